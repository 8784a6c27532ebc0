//! One acquisition attempt: open, lock, verify, judge, replace.
//!
//! The steps and why each exists are in the crate documentation.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::error::Error;
use crate::events::EventLog;
use crate::identity::{self, ProcessIdentity, SystemProbe};
use crate::judge::{self, Judgment, Observer, TakeoverReason, Verdict};
use crate::record::{MAX_RECORD_BYTES, Record};
use crate::sys::{self, FileId, Meta};

/// Set once the no-flock warning has been printed by this process.
static FLOCK_WARNED: AtomicBool = AtomicBool::new(false);

/// A held lock file, before it becomes a [`RunLock`](crate::RunLock).
pub(crate) struct Held {
    pub fd: OwnedFd,
    pub id: FileId,
    pub record: Record,
    pub kernel_lock: bool,
}

/// A won attempt.
pub(crate) enum Won {
    Acquired(Held),
    Continued(Held),
    TookOver {
        held: Held,
        previous: Option<Record>,
        reason: TakeoverReason,
    },
}

/// A look at a lock that someone else holds.
pub(crate) struct Sighting {
    pub owner: Option<Record>,
    /// `Alive` until the heartbeat has been measured.
    pub verdict: Verdict,
    pub file: FileId,
    pub mtime: SystemTime,
    /// The kernel lock is held but the record's owner is gone: another
    /// contender is replacing the record right now.
    pub transient: bool,
}

/// The result of one attempt.
pub(crate) enum Step {
    Won(Won),
    Busy(Sighting),
    /// The file changed under the attempt; try again at once.
    Retry,
}

/// The result of trying the kernel lock.
pub(crate) enum KernelLock {
    Taken,
    Contended,
    Unsupported,
}

/// The state shared by the attempts of one acquisition.
pub(crate) struct Locker {
    pub path: PathBuf,
    pub dir_path: PathBuf,
    pub dir: OwnedFd,
    pub name: String,
    pub own: ProcessIdentity,
    pub hostname: String,
    pub requested: Option<Uuid>,
    pub events: EventLog,
    kernel_locks: bool,
    /// The way a new lock file gets its name, one step further down each
    /// time the kernel, the filesystem or a missing `/proc` rules one out.
    publish_by: Publish,
    tried_create: bool,
}

impl Locker {
    /// Opens the lock's directory and reads this process's identity.
    pub fn new(lock_path: &Path, requested: Option<Uuid>) -> Result<Locker, Error> {
        let (dir_path, name) = split_path(lock_path)?;
        let (own, hostname) = own_identity()?;
        let dir = sys::open_dir(&dir_path).map_err(|source| Error::Directory {
            path: dir_path.clone(),
            source,
        })?;
        Ok(Locker {
            path: lock_path.to_owned(),
            dir_path,
            dir,
            name,
            own,
            hostname,
            requested,
            events: EventLog::default(),
            kernel_locks: true,
            publish_by: Publish::LinkDescriptor,
            tried_create: false,
        })
    }

    /// Makes one attempt. The first attempt creates the lock right away,
    /// which is the common case and saves a failed open.
    pub fn attempt(&mut self) -> Result<Step, Error> {
        let mut create_error = None;
        if !self.tried_create {
            self.tried_create = true;
            match self.create(Prior::Nothing) {
                Ok(Step::Retry) => {}
                Ok(step) => return Ok(step),

                // A full disk or read-only directory still lets a held
                // lock be reported as busy, so look at it first.
                Err(error) => create_error = Some(error),
            }
        }
        let fd = match (self.open_existing()?, create_error) {
            (Some(fd), _) => fd,
            (None, Some(error)) => return Err(error),
            (None, None) => return self.create(Prior::Nothing),
        };
        let meta = self.stat(&fd)?;
        match self.lock(&fd)? {
            KernelLock::Taken => self.judge_locked(fd, meta),
            KernelLock::Contended => self.sight_contended(&fd, meta),
            KernelLock::Unsupported => self.judge_unlocked(fd, meta),
        }
    }

    /// Opens the file at the lock path, or returns `None` when there is none.
    pub fn open_existing(&self) -> Result<Option<OwnedFd>, Error> {
        match sys::open_existing(self.dir.as_fd(), &self.name) {
            Ok(fd) => Ok(Some(fd)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) if sys::is_symlink_loop(&error) => Err(Error::Symlink {
                path: self.path.clone(),
            }),
            Err(source) => Err(Error::io("open", &self.path, source)),
        }
    }

    /// Stats an open lock file and rejects anything but a regular file.
    pub fn stat(&self, fd: &OwnedFd) -> Result<Meta, Error> {
        let meta =
            sys::stat_fd(fd.as_fd()).map_err(|source| Error::io("stat", &self.path, source))?;
        if !meta.file_type.is_file() {
            return Err(Error::NotAFile {
                path: self.path.clone(),
                kind: describe(meta.file_type),
            });
        }
        Ok(meta)
    }

    /// Tries the kernel lock on `fd` without blocking.
    pub fn lock(&mut self, fd: &OwnedFd) -> Result<KernelLock, Error> {
        if !self.kernel_locks {
            return Ok(KernelLock::Unsupported);
        }
        match sys::try_lock(fd.as_fd()) {
            Ok(true) => Ok(KernelLock::Taken),
            Ok(false) => Ok(KernelLock::Contended),
            Err(error) if sys::is_flock_unsupported(&error) => {
                self.disable_kernel_locks(&error);
                Ok(KernelLock::Unsupported)
            }
            Err(source) => Err(Error::io("lock", &self.path, source)),
        }
    }

    fn disable_kernel_locks(&mut self, error: &io::Error) {
        self.kernel_locks = false;
        if !FLOCK_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "flock is not supported on {} ({error}); the lock record and its heartbeat \
                 decide alone, which cannot rule out two holders in every race",
                self.dir_path.display()
            );
        }
    }

    /// Takes the kernel lock on a file only this process can see yet.
    fn lock_new(&mut self, fd: &OwnedFd) -> Result<bool, Error> {
        match self.lock(fd)? {
            KernelLock::Taken => Ok(true),
            KernelLock::Unsupported => Ok(false),
            KernelLock::Contended => Err(Error::io(
                "lock",
                &self.path,
                io::Error::other("a new private file was already locked"),
            )),
        }
    }

    /// Returns whether the lock path still names the file `id`.
    pub fn names_file(&self, id: FileId) -> Result<bool, Error> {
        match sys::lstat_at(self.dir.as_fd(), &self.name) {
            Ok(meta) => Ok(meta.id == id),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::io("stat", &self.path, source)),
        }
    }

    /// Reads the record through `fd`, at most one byte past the limit.
    pub fn read(&self, fd: &OwnedFd) -> Result<Vec<u8>, Error> {
        sys::read_at_most(fd.as_fd(), MAX_RECORD_BYTES + 1)
            .map_err(|source| Error::io("read", &self.path, source))
    }

    /// Judges a record against this process.
    pub fn judge(&self, record: &Record) -> Judgment {
        let observer = Observer {
            probe: &SystemProbe,
            hostname: &self.hostname,
            boot_id: &self.own.boot_id,
            own: &self.own,
            requested: self.requested,
        };
        judge::judge(&observer, record)
    }

    /// Holds the kernel lock on the file the path names: judge its record
    /// and replace it if it is stale.
    fn judge_locked(&mut self, fd: OwnedFd, meta: Meta) -> Result<Step, Error> {
        // The file may have been replaced or removed between open and
        // flock; a lock on a file the path no longer names excludes no one.
        if !self.names_file(meta.id)? || self.stat(&fd)?.nlink == 0 {
            return Ok(Step::Retry);
        }
        let bytes = self.read(&fd)?;
        let record = match Record::parse(&bytes, &self.path) {
            Ok(record) => record,
            Err(_) if let Some(verdict) = being_written(&bytes, meta) => {
                return Ok(Step::Busy(sighting(None, verdict, meta)));
            }
            Err(error) => return self.replace_unreadable(fd, &error),
        };
        match self.judge(&record) {
            Judgment::Held(verdict) => Ok(Step::Busy(sighting(Some(record), verdict, meta))),
            Judgment::HeldByMembers(verdict) => {
                Ok(Step::Busy(sighting(Some(record), verdict, meta)))
            }
            Judgment::Continue => {
                let next = self.continuation(&record);
                let held = self.replace(fd, next)?;
                Ok(Step::Won(Won::Continued(held)))
            }
            Judgment::Stale(reason) => {
                let next = self.new_record(self.new_run_id());
                let held = self.replace(fd, next)?;
                let previous = Some(record);
                Ok(Step::Won(Won::TookOver {
                    held,
                    previous,
                    reason,
                }))
            }
        }
    }

    /// Someone holds the kernel lock, so a live process owns the file.
    fn sight_contended(&self, fd: &OwnedFd, meta: Meta) -> Result<Step, Error> {
        if !self.names_file(meta.id)? {
            return Ok(Step::Retry);
        }
        let bytes = self.read(fd)?;
        let owner = Record::parse(&bytes, &self.path).ok();
        let transient = owner.as_ref().is_some_and(|record| {
            let judgment = self.judge(record);
            matches!(judgment, Judgment::Continue | Judgment::Stale(_))
        });
        let mut sighting = sighting(owner, Verdict::Alive, meta);
        sighting.transient = transient;
        Ok(Step::Busy(sighting))
    }

    /// No working flock: the record decides alone.
    fn judge_unlocked(&mut self, fd: OwnedFd, meta: Meta) -> Result<Step, Error> {
        let bytes = self.read(&fd)?;
        drop(fd);
        let record = match Record::parse(&bytes, &self.path) {
            Ok(record) => record,
            Err(_) if let Some(verdict) = being_written(&bytes, meta) => {
                return Ok(Step::Busy(sighting(None, verdict, meta)));
            }
            Err(error) => {
                let moved_to = self.corrupt_path_name();
                let reason = TakeoverReason::Unreadable {
                    reason: short_reason(&error),
                    moved_to: self.dir_path.join(&moved_to),
                };
                return self.steal(meta.id, Some(&moved_to), Prior::TakeOver(None, reason));
            }
        };
        match self.judge(&record) {
            Judgment::Held(verdict) => Ok(Step::Busy(sighting(Some(record), verdict, meta))),
            Judgment::HeldByMembers(verdict) => {
                Ok(Step::Busy(sighting(Some(record), verdict, meta)))
            }
            Judgment::Continue => self.steal(meta.id, None, Prior::Continue(record)),
            Judgment::Stale(reason) => {
                self.steal(meta.id, None, Prior::TakeOver(Some(record), reason))
            }
        }
    }

    /// Replaces a stale file without a kernel lock: move it to a private
    /// name, check that the moved file is the one judged, and only then
    /// link a new one. A file moved by mistake is linked back.
    fn steal(
        &mut self,
        judged: FileId,
        keep_as: Option<&str>,
        prior: Prior,
    ) -> Result<Step, Error> {
        let private = self.temp_name("stale");
        match sys::rename(self.dir.as_fd(), &self.name, &private) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Step::Retry),
            Err(source) => return Err(Error::io("rename", &self.path, source)),
        }
        let moved = sys::lstat_at(self.dir.as_fd(), &private)
            .map_err(|source| Error::io("stat", self.dir_path.join(&private), source))?;
        if moved.id != judged {
            self.put_back(&private);
            return Ok(Step::Retry);
        }
        let dir = self.dir.as_fd();
        let disposed = match keep_as {
            Some(name) => sys::link(dir, &private, name).and_then(|()| sys::unlink(dir, &private)),
            None => sys::unlink(dir, &private),
        };
        if let Err(error) = disposed {
            let private = self.dir_path.join(&private);
            tracing::warn!("failed to clean up {}: {error}", private.display());
        } else if let Prior::TakeOver(None, reason) = &prior {
            let path = self.path.display();
            tracing::warn!("moved the unreadable run lock {path} aside: {reason}");
        }
        self.create(prior)
    }

    fn put_back(&self, private: &str) {
        let dir = self.dir.as_fd();
        if let Err(error) = sys::link(dir, private, &self.name) {
            tracing::warn!(
                "failed to put back the run lock {} after moving it by mistake ({error}); \
                 two runs may hold it",
                self.path.display()
            );
        }
        let _ = sys::unlink(dir, private);
    }

    /// Creates the lock where none exists, from a complete record in a
    /// locked file that only this process can see yet, moved to the path by
    /// a call that fails if a lock exists.
    fn create(&mut self, prior: Prior) -> Result<Step, Error> {
        let record = match &prior {
            Prior::Continue(previous) => self.continuation(previous),
            _ => self.new_record(self.new_run_id()),
        };
        let Some((fd, kernel_lock)) = self.publish(&record)? else {
            return Ok(Step::Retry);
        };
        let held = self.held(fd, record, kernel_lock)?;
        Ok(Step::Won(match prior {
            Prior::Nothing => Won::Acquired(held),
            Prior::Continue(_) => Won::Continued(held),
            Prior::TakeOver(previous, reason) => Won::TookOver {
                held,
                previous,
                reason,
            },
        }))
    }

    /// Writes `record` to a new file, locks it and gives it the lock's
    /// name. Returns the file and whether it has a kernel lock, or `None`
    /// when a lock exists.
    fn publish(&mut self, record: &Record) -> Result<Option<(OwnedFd, bool)>, Error> {
        while self.publish_by != Publish::Rename {
            match self.publish_unnamed(record)? {
                Published::Linked(fd, kernel_lock) => return Ok(Some((fd, kernel_lock))),
                Published::Exists => return Ok(None),
                Published::Unsupported(next) => self.publish_by = next,
            }
        }
        self.publish_renamed(record)
    }

    /// Publishes through an unnamed `O_TMPFILE` file linked to the path:
    /// one directory change, and nothing left behind by a crash. The close
    /// of the held descriptor, even by the kernel for a killed holder, is
    /// reported to inotify under the file's first name, `#<inode>`, not
    /// the lock's. Waiters wake on any name but the event log's.
    fn publish_unnamed(&mut self, record: &Record) -> Result<Published, Error> {
        let fd = match sys::create_unnamed(self.dir.as_fd()) {
            Ok(Some(fd)) => fd,
            Ok(None) => return Ok(Published::Unsupported(Publish::Rename)),
            Err(source) => return Err(Error::io("create", &self.path, source)),
        };
        let kernel_lock = self.fill(&fd, record)?;
        let (linked, next) = match self.publish_by {
            Publish::LinkDescriptor => (
                sys::link_descriptor(fd.as_fd(), self.dir.as_fd(), &self.name),
                Publish::LinkThroughProc,
            ),
            _ => (
                sys::link_through_proc(fd.as_fd(), self.dir.as_fd(), &self.name),
                Publish::Rename,
            ),
        };
        match linked {
            Ok(()) => Ok(Published::Linked(fd, kernel_lock)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(Published::Exists),

            // Without the permission to link a descriptor, or without
            // /proc, the next way still works. An error that every way
            // shares, such as a full disk, is reported by the last one.
            Err(error) => {
                tracing::debug!(
                    "failed to link a new lock file at {} ({error}); trying another way",
                    self.path.display()
                );
                Ok(Published::Unsupported(next))
            }
        }
    }

    /// Publishes through a hidden temporary file, renamed to the path with
    /// `RENAME_NOREPLACE` (or linked, where that flag is missing).
    fn publish_renamed(&mut self, record: &Record) -> Result<Option<(OwnedFd, bool)>, Error> {
        let (fd, temp) = self.create_temp()?;
        let moved = self.fill(&fd, record).and_then(|kernel_lock| {
            match sys::rename_no_replace(self.dir.as_fd(), &temp, &self.name) {
                Ok(()) => Ok(Some(kernel_lock)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(source) => Err(Error::io("create", &self.path, source)),
            }
        });
        match moved {
            Ok(Some(kernel_lock)) => Ok(Some((fd, kernel_lock))),
            other => {
                let _ = sys::unlink(self.dir.as_fd(), &temp);
                other.map(|_| None)
            }
        }
    }

    /// Creates a new hidden temporary file beside the lock.
    fn create_temp(&self) -> Result<(OwnedFd, String), Error> {
        let mut attempt = 0;
        loop {
            let temp = self.temp_name("tmp");
            match sys::create_named(self.dir.as_fd(), &temp) {
                Ok(fd) => return Ok((fd, temp)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 10 => {
                    attempt += 1;
                }
                Err(source) => return Err(Error::io("create", &self.path, source)),
            }
        }
    }

    /// Writes the record into a new file and takes its kernel lock.
    fn fill(&mut self, fd: &OwnedFd, record: &Record) -> Result<bool, Error> {
        sys::write_all(fd.as_fd(), record.to_json().as_bytes())
            .map_err(|source| Error::io("write", &self.path, source))?;
        self.lock_new(fd)
    }

    /// Replaces the file `old` (whose kernel lock this process holds, and
    /// which the path names) with a new record: written to a temporary
    /// file, locked, then renamed over the path. `old` is closed last, so
    /// the path never names an unlocked file.
    pub fn replace(&mut self, old: OwnedFd, record: Record) -> Result<Held, Error> {
        let (fd, temp) = self.create_temp()?;
        let renamed = self.fill(&fd, &record).and_then(|kernel_lock| {
            sys::rename(self.dir.as_fd(), &temp, &self.name)
                .map(|()| kernel_lock)
                .map_err(|source| Error::io("replace", &self.path, source))
        });
        let kernel_lock = match renamed {
            Ok(kernel_lock) => kernel_lock,
            Err(error) => {
                let _ = sys::unlink(self.dir.as_fd(), &temp);
                return Err(error);
            }
        };
        let held = self.held(fd, record, kernel_lock)?;
        drop(old);
        Ok(held)
    }

    /// Moves an unreadable record that no process holds aside, without
    /// overwriting anything, and replaces it.
    fn replace_unreadable(&mut self, fd: OwnedFd, error: &Error) -> Result<Step, Error> {
        let moved_to = self.keep_corrupt()?;
        tracing::warn!(
            "moved the unreadable run lock {} aside to {}: {}",
            self.path.display(),
            moved_to.display(),
            short_reason(error)
        );
        let next = self.new_record(self.new_run_id());
        let held = self.replace(fd, next)?;
        let reason = TakeoverReason::Unreadable {
            reason: short_reason(error),
            moved_to,
        };
        Ok(Step::Won(Won::TookOver {
            held,
            previous: None,
            reason,
        }))
    }

    /// Links the file at the lock path to a new `.corrupt.<time>` name.
    pub fn keep_corrupt(&self) -> Result<PathBuf, Error> {
        let base = self.corrupt_path_name();
        for attempt in 0..100 {
            let name = match attempt {
                0 => base.clone(),
                n => format!("{base}.{n}"),
            };
            match sys::link(self.dir.as_fd(), &self.name, &name) {
                Ok(()) => return Ok(self.dir_path.join(name)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(Error::io("link", self.dir_path.join(name), source)),
            }
        }
        let source = io::Error::from(io::ErrorKind::AlreadyExists);
        Err(Error::io("link", self.dir_path.join(base), source))
    }

    fn corrupt_path_name(&self) -> String {
        let time = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        format!("{}.corrupt.{time}", self.name)
    }

    fn held(&self, fd: OwnedFd, record: Record, kernel_lock: bool) -> Result<Held, Error> {
        let meta =
            sys::stat_fd(fd.as_fd()).map_err(|source| Error::io("stat", &self.path, source))?;
        Ok(Held {
            fd,
            id: meta.id,
            record,
            kernel_lock,
        })
    }

    fn new_run_id(&self) -> Uuid {
        self.requested.unwrap_or_else(Uuid::new_v4)
    }

    /// Returns the record of a continued run: the same run id and members,
    /// held by this process.
    fn continuation(&self, previous: &Record) -> Record {
        let mut record = self.new_record(previous.run_id);
        record.members = previous.members.clone();
        record
    }

    fn new_record(&self, run_id: Uuid) -> Record {
        Record::new(run_id, &self.own, &self.hostname)
    }

    /// Returns a new hidden name for a private file beside the lock,
    /// unique to this process.
    pub fn temp_name(&self, kind: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        format!(".{}.{kind}.{}.{nanos:x}.{count}", self.name, self.own.pid)
    }
}

/// Returns this process's identity and host name, read once per process.
/// The PID is checked on every call, so a forked child reads its own.
fn own_identity() -> Result<(ProcessIdentity, String), Error> {
    static OWN: Mutex<Option<(ProcessIdentity, String)>> = Mutex::new(None);

    let mut own = OWN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((identity, hostname)) = own.as_ref()
        && identity.pid == sys::current_pid()
    {
        return Ok((identity.clone(), hostname.clone()));
    }
    let fresh = (ProcessIdentity::current()?, identity::hostname()?);
    *own = Some(fresh.clone());
    Ok(fresh)
}

/// The ways a new lock file gets its name, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Publish {
    /// An `O_TMPFILE` file linked with `AT_EMPTY_PATH`.
    LinkDescriptor,
    /// An `O_TMPFILE` file linked through `/proc/thread-self/fd`.
    LinkThroughProc,
    /// A named temporary file renamed to the path.
    Rename,
}

/// The result of publishing a new lock through an unnamed file.
enum Published {
    Linked(OwnedFd, bool),
    Exists,
    /// This way is ruled out; the next one to try.
    Unsupported(Publish),
}

/// The lock file, if any, that a new one replaces.
enum Prior {
    Nothing,
    Continue(Record),
    TakeOver(Option<Record>, TakeoverReason),
}

pub(crate) fn sighting(owner: Option<Record>, verdict: Verdict, meta: Meta) -> Sighting {
    Sighting {
        owner,
        verdict,
        file: meta.id,
        mtime: meta.mtime,
        transient: false,
    }
}

/// How long an empty lock file counts as still being written.
const FRESH_EMPTY: Duration = Duration::from_secs(2);

/// Returns a verdict when the lock file is empty and was created moments
/// ago. The older design created the file first and wrote it second, so a
/// holder of that design may still be writing it, and moving it aside
/// would give two holders.
pub(crate) fn being_written(bytes: &[u8], meta: Meta) -> Option<Verdict> {
    let age = SystemTime::now()
        .duration_since(meta.mtime)
        .unwrap_or(Duration::ZERO);
    if !bytes.is_empty() || age >= FRESH_EMPTY {
        return None;
    }
    Some(Verdict::BeingWritten { age })
}

/// Splits a lock path into its directory and its UTF-8 file name.
fn split_path(lock_path: &Path) -> Result<(PathBuf, String), Error> {
    let invalid = || {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "not a UTF-8 file name");
        Error::io("use", lock_path, source)
    };
    let name = lock_path.file_name().ok_or_else(invalid)?;
    let name = name.to_str().ok_or_else(invalid)?.to_owned();
    let dir = match lock_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Returns the reason a record is unreadable, without the path.
pub(crate) fn short_reason(error: &Error) -> String {
    match error {
        Error::RecordTooLarge { limit, .. } => format!("the record is larger than {limit} bytes"),
        Error::RecordInvalid { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn describe(file_type: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;

    match file_type {
        FileType::Directory => "directory",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Symlink => "symbolic link",
        _ => "unknown file type",
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    const WAYS: [Publish; 3] = [
        Publish::LinkDescriptor,
        Publish::LinkThroughProc,
        Publish::Rename,
    ];

    fn locker(dir: &Path, way: Publish) -> Locker {
        let mut locker = Locker::new(&dir.join("dispatch-loop.lock"), None).expect("locker");
        locker.publish_by = way;
        locker
    }

    fn acquired(step: Step) -> Held {
        match step {
            Step::Won(Won::Acquired(held)) => held,
            Step::Won(_) => panic!("won, but not as a new lock"),
            Step::Busy(_) => panic!("busy"),
            Step::Retry => panic!("retry"),
        }
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list the directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_way_publishes_a_locked_record() {
        for way in WAYS {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut locker = locker(dir.path(), way);
            let held = acquired(locker.attempt().expect("attempt"));

            assert_eq!(locker.publish_by, way, "{way:?} fell back");
            assert!(held.kernel_lock, "{way:?}: no kernel lock");
            assert!(
                locker.names_file(held.id).expect("stat"),
                "{way:?}: not at the path"
            );
            let on_disk = std::fs::read(&locker.path).expect("read the lock");
            let record = Record::parse(&on_disk, &locker.path).expect("a whole record");
            assert_eq!(record.run_id, held.record.run_id, "{way:?}: another record");
            assert_eq!(
                names_in(dir.path()),
                ["dispatch-loop.lock"],
                "{way:?}: leftovers"
            );

            let other = sys::open_existing(locker.dir.as_fd(), &locker.name).expect("open");
            let taken = sys::try_lock(other.as_fd()).expect("flock");
            assert!(!taken, "{way:?}: a second descriptor took the kernel lock");
        }
    }

    #[test]
    fn every_way_leaves_an_existing_lock() {
        for way in WAYS {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut first = locker(dir.path(), way);
            let held = acquired(first.attempt().expect("attempt"));

            let mut second = locker(dir.path(), way);
            let step = second.attempt().expect("second attempt");
            assert!(matches!(step, Step::Busy(_)), "{way:?}: not busy");
            assert!(
                first.names_file(held.id).expect("stat"),
                "{way:?}: lock replaced"
            );
            assert_eq!(
                names_in(dir.path()),
                ["dispatch-loop.lock"],
                "{way:?}: leftovers"
            );
        }
    }

    #[test]
    fn every_way_rejects_a_symlink() {
        for way in WAYS {
            let dir = tempfile::tempdir().expect("temporary directory");
            let target = dir.path().join("precious");
            std::fs::write(&target, "keep me").expect("write the target");
            let lock = dir.path().join("dispatch-loop.lock");
            std::os::unix::fs::symlink(&target, &lock).expect("plant a symlink");

            let mut locker = locker(dir.path(), way);
            let result = locker.attempt();
            assert!(
                matches!(result, Err(Error::Symlink { .. })),
                "{way:?}: not rejected"
            );
            let kept = std::fs::read_to_string(&target).expect("read the target");
            assert_eq!(kept, "keep me", "{way:?}: target changed");
            let link = std::fs::symlink_metadata(&lock).expect("stat the symlink");
            assert!(link.file_type().is_symlink(), "{way:?}: symlink replaced");
        }
    }
}
