//! One run of the loop as a value: the run lock, the state and the
//! supervisors this process has seen, with the steps a turn is made of.

use std::collections::HashMap;
use std::fs;
use std::process::Child;
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use runlock::{Acquisition, ProcessIdentity, RunLock};
use rustix::process::Signal;
use tickets::{Backlog, Status, Ticket};
use uuid::Uuid;

use super::cache::CachedBacklog;
use super::config::Config;
use super::ids;
use super::outcome::{Outcome, Termination};
use super::paths::Project;
use super::progress;
use super::select;
use super::session::{self, LaunchSpec, Probe, SessionFiles, SessionRecord, Started};
use super::state::{Active, Finished, Settings, State};
use super::worktrees::{self, Settled};
use crate::worktree::Repo;

/// Something that happened during a step, for the caller to show.
#[derive(Clone, Debug)]
pub enum Event {
    Launched {
        ticket: String,
        session: Uuid,
    },
    Finished(Finished),
    /// A launch intent whose supervisor never started; the ticket may be
    /// launched again.
    Withdrawn {
        ticket: String,
    },
}

/// Counts taken at the end of a step.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub complete: bool,
    pub total: usize,
    pub closed: usize,
    pub ready: usize,
}

/// The result of trying to open the run.
pub enum Opening {
    Ready(Box<Engine>),
    Busy(runlock::Busy),
}

/// A supervisor of an active session, as far as this process has seen it.
#[derive(Default)]
struct Supervisor {
    identity: Option<ProcessIdentity>,
    /// Set when this process spawned it, so it can be reaped.
    child: Option<Child>,
}

/// An open run: holds the run lock until [`Engine::complete`] or
/// [`Engine::suspend`].
pub struct Engine {
    pub project: Project,
    pub config: Config,
    pub state: State,
    /// `None` only while being consumed.
    lock: Option<RunLock>,
    /// The repository, when sessions run in worktrees.
    repo: Option<Repo>,
    /// The backlog the last step used, reused while no session ends and
    /// the tickets directory does not change.
    backlog: Option<CachedBacklog>,
    supervisors: HashMap<Uuid, Supervisor>,
    events: Vec<Event>,
}

/// Returns the run-defining settings of a new run.
pub fn settings_of(config: &Config) -> Settings {
    Settings {
        max_iterations: config.max_iterations,
        parallel: config.parallel,
        attempt_timeout_ms: config.attempt_timeout_ms,
        grace_period_ms: config.grace_period_ms,
        agent_command: config.agent_command.clone(),
        allow_untagged: config.parallel_allow_untagged,
        worktrees: config
            .uses_worktrees()
            .then(|| config.parallel_worktrees_dir.clone()),
    }
}

impl Engine {
    /// Acquires or continues the run lock and loads or starts the state.
    /// `by_turns` is true when `turn` (rather than `run`) opens it.
    pub fn open(project: Project, config: Config, by_turns: bool) -> anyhow::Result<Opening> {
        for dir in [project.sessions(), project.logs()] {
            fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let saved = State::load(&project.state())?.filter(|state| {
            let stopped = state.stopped_by_signal.is_some();
            if stopped {
                tracing::info!("run {} was interrupted; starting a new run", state.run_id);
            }
            !stopped
        });
        // `run` does not continue a run that turns drive. It requests a new
        // run id instead, which is busy while that run's sessions are alive.
        let continued = saved
            .as_ref()
            .filter(|state| by_turns || !state.driven_by_turns);
        let options = runlock::Options {
            run_id: continued.map(|state| state.run_id),
            wait: None,
            silence_threshold: Duration::from_millis(config.silence_threshold_ms),
        };
        let lock = match runlock::acquire(&project.lock(), &options)? {
            Acquisition::Acquired(lock) | Acquisition::Continued(lock) => lock,
            Acquisition::TookOver {
                lock,
                previous,
                reason,
                ..
            } => {
                match previous {
                    Some(previous) => tracing::warn!(
                        "took over the run lock of run {} (pid {}): {reason}",
                        previous.run_id,
                        previous.pid
                    ),
                    None => tracing::warn!("took over the run lock: {reason}"),
                }
                lock
            }
            Acquisition::Busy(busy) => return Ok(Opening::Busy(busy)),
        };
        let new_run = saved.is_none();
        let mut state = match saved {
            Some(state) => resume(state, &lock, &config),
            None => State::new(lock.run_id(), settings_of(&config)),
        };
        state.driven_by_turns = by_turns;
        let mut engine = Engine {
            project,
            config,
            state,
            lock: Some(lock),
            repo: None,
            backlog: None,
            supervisors: HashMap::new(),
            events: Vec::new(),
        };
        // Leftovers of earlier sessions are looked for when a run starts or
        // `run` resumes one, not on every turn.
        let tidy = new_run || !by_turns;
        if let Err(error) = engine.open_repo(new_run, tidy) {
            // A new run that cannot start leaves no state behind; a run
            // with sessions in flight keeps its lock.
            let closed = if new_run {
                engine.release()
            } else {
                engine.close()
            };
            if let Err(close_error) = closed {
                tracing::warn!("{close_error:#}");
            }
            return Err(error);
        }
        Ok(Opening::Ready(Box::new(engine)))
    }

    /// Opens the repository of a run whose sessions use worktrees, and
    /// with `tidy` cleans up what earlier sessions left there.
    fn open_repo(&mut self, new_run: bool, tidy: bool) -> anyhow::Result<()> {
        let Some(repo) = worktrees::open(&self.project, &mut self.state)? else {
            return Ok(());
        };
        if let (true, Some(dir)) = (tidy, &self.state.settings.worktrees) {
            worktrees::tidy(&repo, dir, &self.state, new_run)?;
        }
        self.repo = Some(repo);
        Ok(())
    }

    /// Takes the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Runs one turn's work: reconcile finished sessions, launch into free
    /// slots, persist the state and rewrite progress.md. The run is complete
    /// when nothing is active afterwards, because a free slot and a ready
    /// ticket would have made a launch. `loaded` is a backlog the caller
    /// has just read, reused when it is still current.
    pub fn step(&mut self, loaded: Option<Backlog>) -> anyhow::Result<Summary> {
        // Merges and new worktrees go to the run's branch only: if the main
        // checkout left it, stop before either happens.
        if let Some(repo) = &self.repo {
            repo.check_on_base()
                .context("the run stopped before merging or launching anything")?;
        }
        // A session that ended may have closed its ticket after `loaded` was
        // read, so a backlog read before the reconcile is stale once any
        // session has ended. Selecting from it could miss newly ready
        // tickets and end the run early.
        let ended = self.reconcile()?;
        let cached = self.backlog.take();
        let cache = match (loaded, cached) {
            (Some(backlog), _) if !ended => CachedBacklog::unchecked(backlog),
            (_, Some(cached)) if !ended && cached.is_current() => cached,
            _ => CachedBacklog::load(&self.project.tickets)?,
        };
        let backlog = &cache.backlog;
        // A ticket whose worktree cannot be made is recorded as failed
        // without a session, which frees its slot for the next pick.
        loop {
            let picked = select::select(backlog, &self.state, self.free_slots());
            if picked.is_empty() {
                break;
            }
            let mut all_launched = true;
            for ticket in picked {
                all_launched &= self.launch(ticket)?;
            }
            if all_launched {
                break;
            }
        }
        self.save()?;
        self.write_progress(Some(backlog), progress::Phase::Running)?;
        let summary = Summary {
            complete: self.state.active.is_empty(),
            total: backlog.tickets().count(),
            closed: backlog
                .tickets()
                .filter(|t| t.status == Status::Closed)
                .count(),
            ready: backlog.ready().len(),
        };
        self.backlog = Some(cache);
        Ok(summary)
    }

    /// Returns how many sessions may be launched now.
    pub fn free_slots(&self) -> usize {
        let settings = &self.state.settings;
        let parallel = settings.parallel as usize;
        let by_parallel = parallel.saturating_sub(self.state.active.len());
        let by_max = settings
            .max_iterations
            .saturating_sub(self.state.started_count);
        by_parallel.min(by_max as usize)
    }

    /// Saves the state file.
    pub fn save(&mut self) -> anyhow::Result<()> {
        let path = self.project.state();
        self.state.save(&path)
    }

    /// Rewrites progress.md.
    pub fn write_progress(
        &self,
        backlog: Option<&Backlog>,
        phase: progress::Phase,
    ) -> anyhow::Result<()> {
        let phase = match phase {
            progress::Phase::Running if self.state.active.is_empty() => progress::Phase::Idle,
            other => other,
        };
        progress::write(&self.project.progress(), &self.state, backlog, phase)
    }

    /// Refreshes the run lock's heartbeat.
    pub fn heartbeat(&mut self) -> anyhow::Result<()> {
        if let Some(lock) = self.lock.as_mut() {
            lock.heartbeat()
                .context("failed to refresh the run lock heartbeat")?;
        }
        Ok(())
    }

    /// Ends a complete run: prints the completion promise on stdout, then
    /// removes the state file and releases the lock.
    pub fn complete(self) -> anyhow::Result<()> {
        self.write_progress(None, progress::Phase::Complete)?;
        println!("{}", super::supervisor::SIGIL);
        let path = self.project.state();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("failed to remove {}", path.display()));
            }
        }
        self.release()
    }

    /// Ends this process's part with sessions in flight: the lock record
    /// stays and names the supervisors, so the run stays alive through them
    /// and the next turn continues it. The state must have been saved.
    pub fn suspend(mut self) -> anyhow::Result<()> {
        match self.lock.take() {
            Some(lock) => lock.keep().context("failed to keep the run lock"),
            None => Ok(()),
        }
    }

    /// Leaves the run as it is after a failure: saves what it can, then
    /// keeps the lock while sessions are in flight and releases it
    /// otherwise.
    pub fn close(mut self) -> anyhow::Result<()> {
        if let Err(error) = self.save() {
            tracing::warn!("{error:#}");
        }
        if self.state.active.is_empty() {
            self.release()
        } else {
            self.suspend()
        }
    }

    /// Closes the run after an error, as [`Engine::close`] does, and prints
    /// on stderr when the lock stays because sessions are in flight.
    pub fn abandon(self) {
        let in_flight = self.state.active.len();
        if let Err(error) = self.close() {
            tracing::warn!("{error:#}");
        }
        if in_flight > 0 {
            let sessions = match in_flight {
                1 => "1 session is".to_owned(),
                n => format!("{n} sessions are"),
            };
            eprintln!(
                "ralph-loop: {sessions} still in flight, so the run keeps its lock; inspect it \
                 with `ralph-loop status`"
            );
        }
    }

    /// Releases the run lock, keeping the state file.
    pub fn release(mut self) -> anyhow::Result<()> {
        match self.lock.take() {
            Some(lock) => lock.release().context("failed to release the run lock"),
            None => Ok(()),
        }
    }

    /// Session files of an active session.
    pub fn files(&self, session: Uuid) -> SessionFiles {
        SessionFiles::new(&self.project.sessions(), session)
    }

    /// Returns the supervisors of active sessions whose identity is known.
    pub fn supervisor_identities(&self) -> Vec<(Uuid, ProcessIdentity)> {
        self.supervisors
            .iter()
            .filter_map(|(session, s)| Some((*session, s.identity.clone()?)))
            .collect()
    }

    /// Checks every active session and records those that have ended.
    /// Returns whether any session left the active list.
    pub fn reconcile(&mut self) -> anyhow::Result<bool> {
        let mut learned = false;
        let mut ended = false;
        for entry in self.state.active.clone() {
            let files = self.files(entry.session);
            match session::probe(&files)? {
                Probe::InFlight => {
                    learned |= self.learn_identity(&entry, &files);
                }
                Probe::Finished(record) => {
                    self.record_finish(&entry, &record);
                    ended = true;
                }
                Probe::NeverStarted => {
                    self.state.forget(entry.session);
                    self.withdraw_worktree(&entry);
                    let _ = fs::remove_file(files.lock());
                    self.supervisors.remove(&entry.session);
                    self.events.push(Event::Withdrawn {
                        ticket: entry.ticket.clone(),
                    });
                    ended = true;
                }
                Probe::Lost(started) => {
                    let record = self.record_lost(&entry, &files, started.map(|s| *s))?;
                    self.record_finish(&entry, &record);
                    ended = true;
                }
            }
        }
        if learned || ended {
            self.update_members()?;
        }
        Ok(ended)
    }

    /// Launches one session: its worktree is made, the intent is saved,
    /// then the supervisor is spawned. Returns false when the ticket's
    /// worktree cannot be made; the ticket is then recorded as failed.
    fn launch(&mut self, ticket: &Ticket) -> anyhow::Result<bool> {
        let id = ticket.id.as_str();
        ids::validate(id).map_err(anyhow::Error::msg)?;
        let Some(placement) = self.place(ticket)? else {
            return Ok(false);
        };
        let session = Uuid::new_v4();
        let active = Active {
            ticket: id.to_owned(),
            session,
            launched_at: Timestamp::now(),
            workdir: placement.workdir.clone(),
            ticket_file: placement.ticket_file,
            worktree: placement.worktree,
            components: ticket.components().map(str::to_owned).collect(),
        };
        self.state.active.push(active.clone());
        self.state.dispatched.push(id.to_owned());
        self.state.started_count += 1;
        self.save()?;

        let settings = &self.state.settings;
        let spec = LaunchSpec {
            ticket: id.to_owned(),
            files: self.files(session),
            workdir: placement.workdir,
            tickets_dir: placement.tickets_dir,
            log: self.project.log(id),
            argv: ids::expand(&settings.agent_command, id),
            timeout_ms: settings.attempt_timeout_ms,
            grace_ms: settings.grace_period_ms,
        };
        let child = match session::launch(&spec) {
            Ok(child) => child,
            Err(error) => {
                self.state.forget(session);
                self.withdraw_worktree(&active);
                self.save()?;
                return Err(error);
            }
        };
        let identity = ProcessIdentity::of(child.id()).ok().flatten();
        let supervisor = Supervisor {
            identity,
            child: Some(child),
        };
        self.supervisors.insert(session, supervisor);
        self.events.push(Event::Launched {
            ticket: id.to_owned(),
            session,
        });
        self.update_members()?;
        Ok(true)
    }

    /// Decides where the session of `ticket` runs, making its worktree
    /// when the run uses them. Returns `None`, after recording the ticket
    /// as failed, when the worktree cannot be made for a reason that
    /// concerns this ticket alone.
    fn place(&mut self, ticket: &Ticket) -> anyhow::Result<Option<worktrees::Placement>> {
        let (Some(repo), Some(dir)) = (&self.repo, &self.state.settings.worktrees) else {
            return Ok(Some(worktrees::Placement {
                workdir: self.project.root.clone(),
                ticket_file: ticket.path.clone(),
                tickets_dir: None,
                worktree: None,
            }));
        };
        match worktrees::place(repo, dir, &self.project, ticket) {
            Ok(placement) => Ok(Some(placement)),
            Err(error) if worktrees::is_ticket_problem(&error) => {
                tracing::warn!("ticket {} not started: {error}", ticket.id);
                self.state.dispatched.push(ticket.id.clone());
                let finished = Finished::new(
                    ticket.id.clone(),
                    None,
                    Outcome::Failed,
                    format!("not started: {error}"),
                    Timestamp::now(),
                );
                self.state.finish(finished.clone());
                self.events.push(Event::Finished(finished));
                Ok(None)
            }
            Err(error) => Err(error)
                .with_context(|| format!("failed to create the worktree of ticket {}", ticket.id)),
        }
    }

    /// Removes the worktree of a session that never ran.
    fn withdraw_worktree(&self, entry: &Active) {
        if let (Some(repo), Some(dir), Some(_)) =
            (&self.repo, &self.state.settings.worktrees, &entry.worktree)
        {
            worktrees::withdraw(repo, dir, &entry.ticket);
        }
    }

    /// Fills in a resumed session's supervisor identity from `.started`.
    fn learn_identity(&mut self, entry: &Active, files: &SessionFiles) -> bool {
        let known = self
            .supervisors
            .get(&entry.session)
            .is_some_and(|s| s.identity.is_some());
        if known {
            return false;
        }
        let Ok(Some(started)) = Started::load(files) else {
            return false;
        };
        let supervisor = self.supervisors.entry(entry.session).or_default();
        supervisor.identity = Some(started.supervisor);
        true
    }

    fn update_members(&mut self) -> anyhow::Result<()> {
        let members: Vec<ProcessIdentity> = self
            .supervisor_identities()
            .into_iter()
            .map(|(_, identity)| identity)
            .collect();
        if let Some(lock) = self.lock.as_mut() {
            lock.set_members(&members)
                .context("failed to update the run lock's members")?;
        }
        Ok(())
    }

    fn record_finish(&mut self, entry: &Active, record: &SessionRecord) {
        let ticket_file = worktrees::ticket_file_after(self.repo.as_ref(), entry);
        let closed = match tickets::read_ticket(&ticket_file) {
            Ok(ticket) => ticket.status == Status::Closed,
            Err(error) => {
                tracing::warn!(
                    "failed to read ticket {} after its session: {error}",
                    entry.ticket
                );
                false
            }
        };
        let outcome = record.termination.outcome(record.exit_code, closed);
        let settled = match (&self.repo, &self.state.settings.worktrees) {
            (Some(repo), Some(dir)) => worktrees::settle(repo, dir, entry, outcome),
            _ => Settled::unchanged(outcome),
        };
        let mut reason = describe(record, outcome, &self.state.settings);
        if let Some(note) = settled.note {
            reason.push_str(&format!("; {note}"));
        }
        let finished = Finished {
            kept_worktree: settled.kept_worktree,
            kept_branch: settled.kept_branch,
            ..Finished::new(
                entry.ticket.clone(),
                Some(entry.session),
                settled.outcome,
                reason,
                record.ended_at,
            )
        };
        self.state.finish(finished.clone());
        self.events.push(Event::Finished(finished));

        // The record is all that is needed from now on.
        let files = self.files(entry.session);
        let _ = fs::remove_file(files.lock());
        let _ = fs::remove_file(files.started());
        if let Some(mut supervisor) = self.supervisors.remove(&entry.session)
            && let Some(child) = supervisor.child.as_mut()
        {
            // The supervisor has released its lock, so it is exiting now.
            let _ = child.wait();
        }
    }

    /// Writes the record of a session whose supervisor vanished, after
    /// killing what is left of its agent.
    fn record_lost(
        &mut self,
        entry: &Active,
        files: &SessionFiles,
        started: Option<Started>,
    ) -> anyhow::Result<SessionRecord> {
        let agent = started.as_ref().and_then(|s| s.agent.clone());
        if let Some(agent) = &agent {
            match runlock::signal_group_verified(agent, Signal::KILL) {
                Ok(true) => tracing::warn!(
                    "killed the agent of lost session {} ({}), pid {}",
                    entry.session,
                    entry.ticket,
                    agent.pid
                ),
                Ok(false) => {}
                Err(error) => tracing::warn!("failed to stop a lost session's agent: {error}"),
            }
        }
        let record = SessionRecord {
            session: entry.session,
            ticket: entry.ticket.clone(),
            supervisor: started.as_ref().map(|s| s.supervisor.clone()),
            agent,
            started_at: started.as_ref().map(|s| s.started_at),
            ended_at: Timestamp::now(),
            exit_code: None,
            signal: None,
            termination: Termination::Lost,
            sigil: false,
            log: self.project.log(&entry.ticket),
            error: Some("the supervisor exited without writing a record".to_owned()),
        };
        record.save(files)?;
        Ok(record)
    }

    /// Marks the sessions that are still active as interrupted and writes
    /// their records; used after their supervisors were killed. A session
    /// whose supervisor wrote a record before it died keeps that record.
    pub fn record_interrupted(&mut self) -> anyhow::Result<()> {
        for entry in self.state.active.clone() {
            let files = self.files(entry.session);
            if let Ok(Probe::Finished(record)) = session::probe(&files) {
                self.record_finish(&entry, &record);
                continue;
            }
            let started = Started::load(&files).ok().flatten();
            let record = SessionRecord {
                session: entry.session,
                ticket: entry.ticket.clone(),
                supervisor: started.as_ref().map(|s| s.supervisor.clone()),
                agent: started.as_ref().and_then(|s| s.agent.clone()),
                started_at: started.as_ref().map(|s| s.started_at),
                ended_at: Timestamp::now(),
                exit_code: None,
                signal: Some(Signal::KILL.as_raw()),
                termination: Termination::InterruptSigkill,
                sigil: false,
                log: self.project.log(&entry.ticket),
                error: Some("killed with its supervisor when the run was interrupted".into()),
            };
            record.save(&files)?;
            self.record_finish(&entry, &record);
        }
        Ok(())
    }

    /// Reaps supervisors this process spawned that have exited, so none is
    /// left a zombie.
    pub fn reap_children(&mut self) {
        for supervisor in self.supervisors.values_mut() {
            if let Some(child) = supervisor.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                supervisor.child = None;
            }
        }
    }
}

/// Continues a saved run; its persisted settings win over config and flags.
fn resume(mut state: State, lock: &RunLock, config: &Config) -> State {
    if state.from_version_1 {
        let settings = &mut state.settings;
        settings.attempt_timeout_ms = config.attempt_timeout_ms;
        settings.grace_period_ms = config.grace_period_ms;
        settings.agent_command = config.agent_command.clone();
        settings.allow_untagged = config.parallel_allow_untagged;
        settings.worktrees = (settings.parallel > 1 || config.serial_use_worktree)
            .then(|| config.parallel_worktrees_dir.clone());
    }
    if state.run_id != lock.run_id() {
        tracing::info!(
            "the state of run {} continues as run {}",
            state.run_id,
            lock.run_id()
        );
        state.run_id = lock.run_id();
    }
    if state.settings != settings_of(config) {
        tracing::warn!(
            "continuing run {} with its saved settings; the config and flags differ and are \
             ignored until it ends",
            state.run_id
        );
    } else {
        tracing::info!("continuing run {}", state.run_id);
    }
    state
}

/// Words the reason shown next to a finished ticket.
fn describe(record: &SessionRecord, outcome: Outcome, settings: &Settings) -> String {
    let mut reason = match record.termination {
        Termination::Exited => match (outcome, record.exit_code) {
            (Outcome::Completed, _) => "exit 0, ticket closed".to_owned(),
            (Outcome::NoProgress, _) => "exit 0 but the ticket is not closed".to_owned(),
            (_, Some(code)) => format!("exit code {code}"),
            (_, None) => "exited".to_owned(),
        },
        Termination::Signaled => format!("killed by signal {}", record.signal.unwrap_or(0)),
        Termination::TimeoutSigterm => {
            format!(
                "timed out after {} ms, stopped by SIGTERM",
                settings.attempt_timeout_ms
            )
        }
        Termination::TimeoutSigkill => {
            format!(
                "timed out after {} ms, needed SIGKILL",
                settings.attempt_timeout_ms
            )
        }
        Termination::InterruptSigterm => "interrupted, stopped by SIGTERM".to_owned(),
        Termination::InterruptSigkill => "interrupted, needed SIGKILL".to_owned(),
        Termination::SpawnFailed => "the agent could not be started".to_owned(),
        Termination::Lost => "the supervisor vanished without a record".to_owned(),
    };
    // A lost session's record contains the same fact in other words.
    if let (Some(error), false) = (&record.error, record.termination == Termination::Lost) {
        reason.push_str(&format!(": {error}"));
    }
    if record.sigil && outcome != Outcome::Completed {
        reason.push_str(" (the output contained the completion promise)");
    }
    reason
}
