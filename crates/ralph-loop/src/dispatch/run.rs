//! `run`: turns in one process until the run is complete, waking on
//! session exits and signals instead of polling.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use runlock::{Liveness, ProcessIdentity};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use tickets::Backlog;
use uuid::Uuid;

use super::engine::Engine;
use super::progress::Phase;
use super::report::Reporter;
use super::session::Started;
use super::signals::SignalPipe;
use crate::exit::Exit;

/// How long after the grace period `run` waits for supervisors to finish
/// stopping their agents before it kills them itself.
const SUPERVISOR_MARGIN: Duration = Duration::from_secs(2);

/// The delay before `run` steps again after finding a supervisor already
/// exited.
const EXITED_RECHECK: Duration = Duration::from_millis(20);

/// The way the loop of [`run`] ended.
enum Ending {
    Complete,
    Signaled,
}

/// Drives the run to completion or to a stop signal. After an error, the
/// run keeps its lock while sessions are in flight, as a failed `turn` does.
pub fn run(mut engine: Engine, backlog: Backlog, reporter: &Reporter) -> anyhow::Result<Exit> {
    let signals = match SignalPipe::install() {
        Ok(signals) => signals,
        Err(error) => {
            engine.abandon();
            return Err(error).context("failed to install signal handlers");
        }
    };
    let mut pidfds: HashMap<Uuid, OwnedFd> = HashMap::new();
    let ending = drive(&mut engine, backlog, reporter, &signals, &mut pidfds);
    reporter.finish();
    match ending {
        Ok(Ending::Complete) => {
            engine.complete()?;
            Ok(Exit::Success)
        }
        Ok(Ending::Signaled) => interrupt(engine, &signals, &mut pidfds, reporter),
        Err(error) => {
            engine.abandon();
            Err(error)
        }
    }
}

/// Steps the run and sleeps between steps until it is complete or a stop
/// signal arrives.
fn drive(
    engine: &mut Engine,
    backlog: Backlog,
    reporter: &Reporter,
    signals: &SignalPipe,
    pidfds: &mut HashMap<Uuid, OwnedFd>,
) -> anyhow::Result<Ending> {
    let heartbeat = Duration::from_millis(engine.config.heartbeat_interval_ms);
    let mut first = Some(backlog);
    loop {
        let summary = engine.step(first.take())?;
        reporter.show(&engine.take_events(), &summary, &engine.state);
        if summary.complete {
            return Ok(Ending::Complete);
        }
        // A supervisor that exited before its pidfd was opened cannot wake
        // the wait, so the next step comes soon. The short pause keeps an
        // unforeseen state from spinning the CPU.
        let timeout = if refresh_pidfds(engine, pidfds) {
            EXITED_RECHECK
        } else {
            heartbeat
        };
        if wait(pidfds, signals, timeout)? {
            return Ok(Ending::Signaled);
        }
        engine.reap_children();
        engine.heartbeat()?;
    }
}

/// Opens a pidfd for every supervisor that has none yet and drops those of
/// sessions that are no longer active. A pidfd refers to one process for
/// good, so a recycled pid cannot wake the loop. The identity check right
/// after opening rules out a pid recycled before the open. Returns whether
/// a supervisor was found to have exited already.
fn refresh_pidfds(engine: &Engine, pidfds: &mut HashMap<Uuid, OwnedFd>) -> bool {
    let identities = engine.supervisor_identities();
    pidfds.retain(|session, _| identities.iter().any(|(s, _)| s == session));
    let mut exited = false;
    for (session, identity) in identities {
        if pidfds.contains_key(&session) {
            continue;
        }
        match open_pidfd(&identity) {
            Watch::Pidfd(pidfd) => {
                pidfds.insert(session, pidfd);
            }
            Watch::Exited => exited = true,
            Watch::Unavailable => {}
        }
    }
    exited
}

/// The result of [`open_pidfd`].
enum Watch {
    Pidfd(OwnedFd),
    /// The process has exited (a zombie included), or its pid now names
    /// another process.
    Exited,
    /// No pidfd could be opened (an old kernel, or too many open files),
    /// so only the heartbeat wakes the loop.
    Unavailable,
}

/// Opens a pidfd on a live process with `identity`.
fn open_pidfd(identity: &ProcessIdentity) -> Watch {
    let Some(pid) = i32::try_from(identity.pid).ok().and_then(Pid::from_raw) else {
        return Watch::Exited;
    };
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(pidfd) if matches!(identity.liveness(), Liveness::Alive) => Watch::Pidfd(pidfd),
        Ok(_) | Err(rustix::io::Errno::SRCH) => Watch::Exited,
        Err(error) => {
            tracing::debug!("pidfd_open({pid:?}) failed: {error}");
            Watch::Unavailable
        }
    }
}

/// Sleeps until a supervisor exits, a signal arrives or `timeout` passes.
/// Returns whether a stop signal arrived.
fn wait(
    pidfds: &HashMap<Uuid, OwnedFd>,
    signals: &SignalPipe,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(pidfds.len() + 1);
    fds.push(PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN));
    for pidfd in pidfds.values() {
        fds.push(PollFd::from_borrowed_fd(pidfd.as_fd(), PollFlags::IN));
    }
    let timespec = rustix::event::Timespec::try_from(timeout)?;
    match rustix::event::poll(&mut fds, Some(&timespec)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(error) => return Err(io::Error::from(error)).context("poll failed"),
    }
    Ok(signals.drain() > 0)
}

/* Signal policy of `run`.
 *
 * SIGINT, SIGTERM and SIGHUP all stop the run; the handlers only write to
 * a self-pipe, and this function does the work. The supervisors run in
 * sessions of their own, so a Ctrl-C on the terminal reaches this process
 * alone, and stopping the sessions is up to it:
 *
 * - First signal: launch nothing more. Send SIGTERM to every session's
 *   supervisor (by verified identity, never a bare pid). Each supervisor
 *   sends SIGTERM to its agent's process group, waits the grace period,
 *   sends SIGKILL if the group is still there, and writes its record as
 *   interrupted.
 * - Wait up to the grace period plus a short margin for the supervisors
 *   to exit.
 * - A second signal skips the grace: every agent's process group gets
 *   SIGKILL from here, and every supervisor another SIGTERM, on which it
 *   kills its group at once.
 * - Whatever is still alive at the end of the wait is killed (agent group,
 *   then supervisor) and recorded here as interrupted.
 * - Then the state is saved, the lock released, and the exit code is
 *   128 + the number of the first signal.
 */
fn interrupt(
    mut engine: Engine,
    signals: &SignalPipe,
    pidfds: &mut HashMap<Uuid, OwnedFd>,
    reporter: &Reporter,
) -> anyhow::Result<Exit> {
    let signal = signals.last();
    let sessions = match engine.state.active.len() {
        1 => "1 session".to_owned(),
        count => format!("{count} sessions"),
    };
    reporter.line(&format!(
        "stopping: signal {signal} received, ending {sessions}"
    ));
    signal_supervisors(&engine);

    let grace = Duration::from_millis(engine.state.settings.grace_period_ms);
    let deadline = Instant::now() + grace + SUPERVISOR_MARGIN;
    let mut forced = false;
    loop {
        engine.reconcile()?;
        engine.reap_children();
        refresh_pidfds(&engine, pidfds);
        let left = deadline.saturating_duration_since(Instant::now());
        if engine.state.active.is_empty() || left.is_zero() {
            break;
        }
        if wait(pidfds, signals, left.min(Duration::from_millis(200)))? && !forced {
            forced = true;
            reporter.line("second signal: killing the sessions now");
            kill_agents(&engine);
            signal_supervisors(&engine);
        }
    }

    if !engine.state.active.is_empty() {
        // NOTE: a session whose supervisor has not yet written `.started`
        // (it was spawned by a process that crashed a moment later) is not
        // known here by identity, so its agent could outlive the run.
        kill_agents(&engine);
        for (_, identity) in engine.supervisor_identities() {
            let _ = runlock::signal_verified(&identity, Signal::KILL);
        }
        engine.record_interrupted()?;
    }
    engine.reap_children();
    reporter.show(&engine.take_events(), &empty_summary(), &engine.state);
    engine.state.stopped_by_signal = Some(signal);
    engine.save()?;
    engine.write_progress(None, Phase::Idle)?;
    engine.release()?;
    Ok(Exit::signaled(signal))
}

fn empty_summary() -> super::engine::Summary {
    super::engine::Summary {
        complete: false,
        total: 0,
        closed: 0,
        ready: 0,
    }
}

fn signal_supervisors(engine: &Engine) {
    for (session, identity) in engine.supervisor_identities() {
        if let Err(error) = runlock::signal_verified(&identity, Signal::TERM) {
            tracing::warn!("failed to signal the supervisor of session {session}: {error}");
        }
    }
}

/// Sends SIGKILL to the process group of every active session's agent.
fn kill_agents(engine: &Engine) {
    for active in &engine.state.active {
        let files = engine.files(active.session);
        let Ok(Some(Started {
            agent: Some(agent), ..
        })) = Started::load(&files)
        else {
            continue;
        };
        if let Err(error) = runlock::signal_group_verified(&agent, Signal::KILL) {
            tracing::warn!("failed to kill the agent of {}: {error}", active.ticket);
        }
    }
}
