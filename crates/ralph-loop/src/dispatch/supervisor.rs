//! The hidden `__supervise` mode: runs one agent session detached from the
//! orchestrator and writes its outcome record.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{BorrowedFd, FromRawFd as _, OwnedFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::Timestamp;
use runlock::ProcessIdentity;
use rustix::event::{PollFd, PollFlags};
use rustix::io::FdFlags;
use rustix::process::{Pid, PidfdFlags, Signal};
use uuid::Uuid;

use super::outcome::Termination;
use super::session::{SessionFiles, SessionRecord, Started};
use super::signals::SignalPipe;

/// The text an agent prints when it believes the whole backlog is done.
pub const SIGIL: &str = "<promise>COMPLETE</promise>";

/// Arguments of the hidden `__supervise` subcommand, passed by the
/// orchestrator.
#[derive(Debug, clap::Args)]
pub struct SuperviseArgs {
    #[arg(long)]
    session: Uuid,
    #[arg(long)]
    ticket: String,
    #[arg(long)]
    sessions_dir: PathBuf,
    /// Inherited descriptor with `flock` taken on `<uuid>.lock`.
    #[arg(long)]
    lock_fd: i32,
    #[arg(long)]
    workdir: PathBuf,
    #[arg(long)]
    log: PathBuf,
    /// 0 means no limit.
    #[arg(long)]
    timeout_ms: u64,
    #[arg(long)]
    grace_ms: u64,
    #[arg(last = true, required = true)]
    argv: Vec<String>,
}

/// Reason for stopping the agent early.
#[derive(Clone, Copy)]
enum StopReason {
    Timeout,
    Interrupt,
}

/// Runs the session to its end and writes the record. Errors before the
/// agent starts are recorded too, as `spawn-failed`.
pub fn run(args: SuperviseArgs) -> anyhow::Result<()> {
    // A new session: the orchestrator's terminal and process group can no
    // longer reach this process, so a Ctrl-C goes to the orchestrator only.
    if let Err(error) = rustix::process::setsid() {
        tracing::warn!("setsid failed: {error}");
    }
    let _lock = adopt_lock_fd(args.lock_fd)?;
    let files = SessionFiles::new(&args.sessions_dir, args.session);
    let mut started = Started {
        session: args.session,
        ticket: args.ticket.clone(),
        supervisor: ProcessIdentity::current().context("failed to read this process's identity")?,
        agent: None,
        started_at: Timestamp::now(),
    };
    started.save(&files)?;

    let mut record = SessionRecord {
        session: args.session,
        ticket: args.ticket.clone(),
        supervisor: Some(started.supervisor.clone()),
        agent: None,
        started_at: Some(started.started_at),
        ended_at: started.started_at,
        exit_code: None,
        signal: None,
        termination: Termination::SpawnFailed,
        sigil: false,
        log: args.log.clone(),
        error: None,
    };
    if let Err(error) = supervise(&args, &files, &mut started, &mut record) {
        record.error = Some(format!("{error:#}"));
    }
    record.ended_at = Timestamp::now();
    record.save(&files)
}

/// Takes ownership of the inherited lock descriptor and marks it
/// close-on-exec so the agent never holds the session lock.
fn adopt_lock_fd(fd: i32) -> anyhow::Result<OwnedFd> {
    // SAFETY: the orchestrator passes the number of a descriptor it left
    // open for this process, and nothing else here uses that number.
    // `fcntl_getfd` below rejects a number that is not open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed)
        .map_err(io::Error::from)
        .with_context(|| format!("lock descriptor {fd} is not open"))?;
    // SAFETY: the descriptor is open (checked above) and owned by no one else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, FdFlags::CLOEXEC).map_err(io::Error::from)?;
    Ok(owned)
}

fn supervise(
    args: &SuperviseArgs,
    files: &SessionFiles,
    started: &mut Started,
    record: &mut SessionRecord,
) -> anyhow::Result<()> {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("failed to open {}", args.log.display()))?;
    let _ = writeln!(
        log,
        "=== session {} for {} started {}: {:?}",
        args.session, args.ticket, started.started_at, args.argv
    );
    let signals = SignalPipe::install().context("failed to install signal handlers")?;

    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(io::Error::from)
        .context("failed to create the output pipe")?;
    let mut child = match spawn_agent(args, writer) {
        Ok(child) => child,
        Err(error) => {
            let _ = writeln!(log, "=== failed to start the agent: {error:#}");
            return Err(error);
        }
    };
    let agent = ProcessIdentity::of(child.id()).ok().flatten();
    started.agent = agent.clone();
    record.agent = agent;
    started.save(files)?;

    let copier = spawn_copier(File::from(reader), log.try_clone()?);
    let (status, termination) = wait_agent(&mut child, args, &signals)?;
    record.termination = termination;
    record.exit_code = status.code();
    record.signal = status.signal();

    // Every writer of the pipe is gone once the agent's group is gone, so
    // the copier finishes; the bound only guards against an escaped process.
    record.sigil = copier.recv_timeout(Duration::from_secs(2)).unwrap_or(false);
    let _ = writeln!(
        log,
        "=== session {} ended: {}, exit code {:?}, signal {:?}",
        args.session,
        termination.as_str(),
        record.exit_code,
        record.signal
    );
    Ok(())
}

fn spawn_agent(args: &SuperviseArgs, output: OwnedFd) -> anyhow::Result<Child> {
    let stderr = output
        .try_clone()
        .context("failed to duplicate the output pipe")?;
    let (program, rest) = args.argv.split_first().context("empty agent command")?;
    Command::new(program)
        .args(rest)
        .current_dir(&args.workdir)
        .env("RALPH_LOOP_SESSION", args.session.to_string())
        .env("RALPH_LOOP_TICKET", &args.ticket)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(output))
        .stderr(Stdio::from(stderr))
        .spawn()
        .with_context(|| format!("failed to start the agent {program:?}"))
}

/// Copies the agent's output into the log on a thread and sends back
/// whether the sigil appeared.
fn spawn_copier(mut pipe: File, mut log: File) -> mpsc::Receiver<bool> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = false;
        let mut tail: Vec<u8> = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = match pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let _ = log.write_all(&buffer[..n]);

            // Keep the last few bytes so a sigil split across reads is found.
            tail.extend_from_slice(&buffer[..n]);
            if !seen && contains(&tail, SIGIL.as_bytes()) {
                seen = true;
            }
            let keep = SIGIL.len().min(tail.len());
            tail.drain(..tail.len() - keep);
        }
        let _ = sender.send(seen);
    });
    receiver
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Waits for the agent, stopping it on timeout or on a stop signal.
fn wait_agent(
    child: &mut Child,
    args: &SuperviseArgs,
    signals: &SignalPipe,
) -> anyhow::Result<(ExitStatus, Termination)> {
    let pid = Pid::from_raw(i32::try_from(child.id())?).context("invalid agent pid")?;
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .map_err(io::Error::from)
        .context("pidfd_open failed for the agent")?;
    let deadline =
        (args.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(args.timeout_ms));

    let reason = match wait_event(&pidfd, signals, deadline)? {
        Event::Exited => {
            let status = reap(child, pid)?;
            let termination = if status.signal().is_some() {
                Termination::Signaled
            } else {
                Termination::Exited
            };
            return Ok((status, termination));
        }
        Event::Signal => StopReason::Interrupt,
        Event::Deadline => StopReason::Timeout,
    };
    stop_agent(child, pid, &pidfd, args, signals, reason)
}

enum Event {
    Exited,
    Signal,
    Deadline,
}

fn wait_event(
    pidfd: &OwnedFd,
    signals: &SignalPipe,
    deadline: Option<Instant>,
) -> anyhow::Result<Event> {
    loop {
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return Ok(Event::Deadline);
        }
        let timespec = timeout.map(rustix::event::Timespec::try_from).transpose()?;
        let mut fds = [
            PollFd::new(pidfd, PollFlags::IN),
            PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, timespec.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(io::Error::from(error)).context("poll failed"),
        }
        if !fds[1].revents().is_empty() && signals.drain() > 0 {
            return Ok(Event::Signal);
        }
        if !fds[0].revents().is_empty() {
            return Ok(Event::Exited);
        }
    }
}

/// SIGTERM to the agent's group, the grace period (cut short by another
/// stop signal), then SIGKILL.
fn stop_agent(
    child: &mut Child,
    pid: Pid,
    pidfd: &OwnedFd,
    args: &SuperviseArgs,
    signals: &SignalPipe,
    reason: StopReason,
) -> anyhow::Result<(ExitStatus, Termination)> {
    let _ = rustix::process::kill_process_group(pid, Signal::TERM);
    let grace_end = Instant::now() + Duration::from_millis(args.grace_ms);
    let exited = match wait_event(pidfd, signals, Some(grace_end))? {
        Event::Exited => true,
        Event::Signal | Event::Deadline => false,
    };
    let status = reap(child, pid)?;

    // SIGKILL from someone else during the grace (a second Ctrl-C makes the
    // orchestrator send one) counts as needing SIGKILL too.
    let killed = !exited || status.signal() == Some(Signal::KILL.as_raw());
    let termination = match (reason, killed) {
        (StopReason::Timeout, false) => Termination::TimeoutSigterm,
        (StopReason::Timeout, true) => Termination::TimeoutSigkill,
        (StopReason::Interrupt, false) => Termination::InterruptSigterm,
        (StopReason::Interrupt, true) => Termination::InterruptSigkill,
    };
    Ok((status, termination))
}

/// Kills what is left of the agent's process group, then reaps the agent.
/// The group is signalled while the agent is still an unreaped zombie, so
/// its pid (the group id) cannot have been reused.
fn reap(child: &mut Child, pid: Pid) -> anyhow::Result<ExitStatus> {
    let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    child.wait().context("failed to wait for the agent")
}
