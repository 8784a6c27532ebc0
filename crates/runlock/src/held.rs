//! The held run lock: heartbeat, members, release.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use uuid::Uuid;

use crate::attempt::{Held, Locker};
use crate::error::Error;
use crate::events::Event;
use crate::identity::ProcessIdentity;
use crate::record::Record;
use crate::sys::{self, FileId};

/// The held run lock.
///
/// The holder keeps an exclusive `flock` on the file the lock path names,
/// through one close-on-exec descriptor, for as long as this value lives.
/// Dropping it without [`release`](RunLock::release) or
/// [`keep`](RunLock::keep) releases it, logging (never panicking) on
/// failure.
#[must_use = "dropping the run lock releases it at once"]
pub struct RunLock {
    locker: Locker,
    file: Option<OwnedFd>,
    id: FileId,
    record: Record,
    kernel_lock: bool,
}

impl RunLock {
    pub(crate) fn new(locker: Locker, held: Held) -> RunLock {
        RunLock {
            locker,
            file: Some(held.fd),
            id: held.id,
            record: held.record,
            kernel_lock: held.kernel_lock,
        }
    }

    /// Returns the id of the run this lock belongs to.
    pub fn run_id(&self) -> Uuid {
        self.record.run_id
    }

    /// Returns the record this process wrote.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Returns the lock path.
    pub fn path(&self) -> &Path {
        &self.locker.path
    }

    /// Returns whether a kernel lock backs this lock: `false` only on
    /// filesystems without a working `flock`.
    pub fn has_kernel_lock(&self) -> bool {
        self.kernel_lock
    }

    /// Refreshes the heartbeat: sets the lock file's modification time to
    /// now through the held descriptor. Call it from the owner's main loop,
    /// never from a helper thread, so that a stuck loop falls silent.
    pub fn heartbeat(&mut self) -> Result<(), Error> {
        let fd = self.fd()?;
        sys::touch(fd.as_fd()).map_err(|source| Error::io("refresh", &self.locker.path, source))
    }

    /// Processes that keep the run alive after this process has gone (the
    /// loop's session supervisors). While any member is alive, other runs
    /// get Busy; the same run id Continues.
    pub fn set_members(&mut self, members: &[ProcessIdentity]) -> Result<(), Error> {
        if !self.locker.names_file(self.id)? {
            return Err(Error::Lost {
                path: self.locker.path.clone(),
            });
        }
        let mut record = self.record.clone();
        record.members = members.to_vec();
        let old = self.file.take().ok_or_else(|| self.lost())?;
        match self.locker.replace(old, record) {
            Ok(held) => {
                self.file = Some(held.fd);
                self.id = held.id;
                self.record = held.record;
                self.kernel_lock = held.kernel_lock;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Removes the lock only if still ours, else warns.
    pub fn release(mut self) -> Result<(), Error> {
        self.release_now()
    }

    /// Drops the kernel lock and leaves the record in place: the run stays
    /// alive through its members and the next turn continues it with the
    /// same run id.
    pub fn keep(mut self) -> Result<(), Error> {
        drop(self.file.take());
        self.log("kept");
        Ok(())
    }

    fn fd(&self) -> Result<&OwnedFd, Error> {
        self.file.as_ref().ok_or_else(|| self.lost())
    }

    fn lost(&self) -> Error {
        Error::Lost {
            path: self.locker.path.clone(),
        }
    }

    fn release_now(&mut self) -> Result<(), Error> {
        let Some(fd) = self.file.take() else {
            return Ok(());
        };
        let outcome = match self.is_ours(&fd) {
            Ok(true) => match sys::unlink(self.locker.dir.as_fd(), &self.locker.name) {
                Ok(()) => "released",
                Err(error) if error.kind() == io::ErrorKind::NotFound => "released",
                Err(source) => return Err(Error::io("remove", &self.locker.path, source)),
            },
            Ok(false) => {
                tracing::warn!(
                    "left the run lock {} in place: it no longer belongs to run {}",
                    self.locker.path.display(),
                    self.record.run_id
                );
                "left"
            }
            Err(error) => {
                tracing::warn!("left the run lock in place: {error}");
                "left"
            }
        };

        // The file is removed while the kernel lock is still held, so no
        // contender can lock it and judge it in between.
        drop(fd);
        self.log(outcome);
        Ok(())
    }

    /// Checks that the path still names the held file and that its record,
    /// read through the held descriptor, is ours.
    fn is_ours(&self, fd: &OwnedFd) -> Result<bool, Error> {
        if !self.locker.names_file(self.id)? {
            return Ok(false);
        }
        let bytes = self.locker.read(fd)?;
        let on_disk = Record::parse(&bytes, &self.locker.path)?;
        Ok(on_disk.run_id == self.record.run_id && on_disk.pid == self.record.pid)
    }

    fn log(&mut self, outcome: &'static str) {
        let event = Event {
            kind: "release",
            outcome,
            record: Some(&self.record),
            owner: None,
            attempts: 0,
            waited_ms: 0,
            previous: None,
            reason: None,
        };
        let locker = &mut self.locker;
        let dir = locker.dir.as_fd();
        locker.events.append(dir, &locker.dir_path, &event);
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Err(error) = self.release_now() {
            let path = self.locker.path.display();
            tracing::warn!("failed to release the run lock {path}: {error}");
        }
    }
}
