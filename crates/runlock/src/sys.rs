//! Every raw OS call the lock and the identity checks make, in one place.
//!
//! Every descriptor is opened close-on-exec, so no spawned child inherits the
//! lock, and every open of the lock path uses `O_NOFOLLOW`, so a symlink
//! planted there fails with `ELOOP` instead of being followed.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, Timestamps};
use rustix::process::{Pid, Signal};

/// Environment variable that makes every `flock` call fail with
/// `EOPNOTSUPP`, as it does on some network filesystems, so that tests can
/// drive the no-flock fallback on a local disk. Any non-empty value other
/// than `0` turns it on.
pub const NO_FLOCK_ENV: &str = "RUNLOCK_NO_FLOCK";

/// The (device, inode) pair that names one file, whatever its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// The parts of `stat` the lock uses.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub id: FileId,
    pub nlink: u64,
    pub mtime: SystemTime,
    pub size: u64,
    pub file_type: FileType,
}

fn errno(error: rustix::io::Errno) -> io::Error {
    io::Error::from(error)
}

fn meta(stat: &rustix::fs::Stat) -> Meta {
    let secs = u64::try_from(stat.st_mtime).unwrap_or(0);
    let nanos = u32::try_from(stat.st_mtime_nsec).unwrap_or(0);
    Meta {
        id: FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        },
        nlink: stat.st_nlink,
        mtime: SystemTime::UNIX_EPOCH + Duration::new(secs, nanos),
        size: u64::try_from(stat.st_size).unwrap_or(0),
        file_type: FileType::from_raw_mode(stat.st_mode),
    }
}

/// Opens a directory for the `*at` calls below.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty()).map_err(errno)
}

/// Opens an existing file read-only, refusing symlinks. `O_NONBLOCK` keeps
/// a FIFO planted at the path from blocking the open.
pub fn open_existing(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(errno)
}

/// Opens a file for appending, creating it when missing, refusing symlinks.
pub fn open_append(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY
        | OFlags::APPEND
        | OFlags::CREATE
        | OFlags::NOFOLLOW
        | OFlags::CLOEXEC
        | OFlags::NONBLOCK;
    rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644)).map_err(errno)
}

/// Creates a new file at `name`, failing with `EEXIST` if anything is there.
pub fn create_named(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644)).map_err(errno)
}

/// Creates an unnamed regular file in `dir` with `O_TMPFILE`, which no other
/// process can open until it is linked to a name. Returns `Ok(None)` when
/// the kernel or the filesystem has no `O_TMPFILE`: open(2) documents
/// `EISDIR` for kernels before Linux 3.11 and `EOPNOTSUPP` for filesystems.
/// `EINVAL` is taken the same way, so that any rejection of the flags falls
/// back to a named file.
pub fn create_unnamed(dir: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    use rustix::io::Errno;

    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o644)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
        Err(error) => Err(errno(error)),
    }
}

/// Links the unnamed file `fd` at `name` in `dir`, failing with `EEXIST` if
/// the name exists. `AT_EMPTY_PATH` links the descriptor itself. Older
/// kernels allow that only with `CAP_DAC_READ_SEARCH` and fail with
/// `ENOENT` otherwise. Linux 6.18 allows it without, for a file opened by
/// the same credentials.
pub fn link_descriptor(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    rustix::fs::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH).map_err(errno)
}

/// Links the unnamed file `fd` at `name` in `dir` through
/// `/proc/thread-self/fd/N` and `AT_SYMLINK_FOLLOW`, as open(2) documents
/// for `O_TMPFILE`, failing with `EEXIST` if the name exists. This needs no
/// capability, but fails with `ENOENT` when `/proc` is not mounted.
/// `thread-self` names this thread's descriptor table, even in a thread
/// that stopped sharing the process's.
pub fn link_through_proc(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    rustix::fs::linkat(rustix::fs::CWD, path, dir, name, AtFlags::SYMLINK_FOLLOW).map_err(errno)
}

/// Renames `from` to `to` unless `to` exists (`EEXIST`). Where the
/// filesystem has no `RENAME_NOREPLACE`, links `to` and then removes
/// `from`, which gives the same result.
pub fn rename_no_replace(dir: BorrowedFd<'_>, from: &str, to: &str) -> io::Result<()> {
    use rustix::fs::RenameFlags;

    match rustix::fs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            link(dir, from, to)?;
            unlink(dir, from)
        }
        Err(error) => Err(errno(error)),
    }
}

/// Adds the name `to` for the file named `from`; `EEXIST` if `to` is taken.
pub fn link(dir: BorrowedFd<'_>, from: &str, to: &str) -> io::Result<()> {
    rustix::fs::linkat(dir, from, dir, to, AtFlags::empty()).map_err(errno)
}

/// Renames `from` to `to`, replacing whatever `to` names.
pub fn rename(dir: BorrowedFd<'_>, from: &str, to: &str) -> io::Result<()> {
    rustix::fs::renameat(dir, from, dir, to).map_err(errno)
}

/// Removes the name `name` (not a directory).
pub fn unlink(dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(errno)
}

/// Takes an exclusive `flock` without blocking: `Ok(true)` when taken,
/// `Ok(false)` when another open file description holds it.
pub fn try_lock(fd: BorrowedFd<'_>) -> io::Result<bool> {
    if flock_disabled() {
        return Err(io::Error::from_raw_os_error(libc_eopnotsupp()));
    }
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(error) => Err(errno(error)),
    }
}

fn flock_disabled() -> bool {
    std::env::var_os(NO_FLOCK_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

fn libc_eopnotsupp() -> i32 {
    rustix::io::Errno::OPNOTSUPP.raw_os_error()
}

/// Returns whether `error` means the filesystem has no working `flock`.
pub fn is_flock_unsupported(error: &io::Error) -> bool {
    let code = error.raw_os_error();
    code == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error())
        || code == Some(rustix::io::Errno::NOLCK.raw_os_error())
        || code == Some(rustix::io::Errno::NOSYS.raw_os_error())
}

/// Returns whether `error` is `ELOOP`, which `O_NOFOLLOW` gives for a symlink.
pub fn is_symlink_loop(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// `fstat`.
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    rustix::fs::fstat(fd).map(|stat| meta(&stat)).map_err(errno)
}

/// `lstat` relative to `dir`: describes a symlink itself, never its target.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<Meta> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|stat| meta(&stat))
        .map_err(errno)
}

/// Reads from offset 0 until end of file or until `limit` bytes are read.
/// The buffer starts at 4 KiB and doubles while full, so that reading a
/// small record does not zero a buffer of `limit` bytes.
pub fn read_at_most(fd: BorrowedFd<'_>, limit: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; limit.min(4096)];
    let mut filled = 0;
    while filled < limit {
        if filled == buffer.len() {
            buffer.resize(limit.min(buffer.len() * 2), 0);
        }
        let offset = filled as u64;
        match rustix::io::pread(fd, &mut buffer[filled..], offset) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(errno(error)),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Writes all of `bytes` at the current offset.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(count) => bytes = &bytes[count..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(errno(error)),
        }
    }
    Ok(())
}

/// Sets the file's access and modification times to the kernel's now.
pub fn touch(fd: BorrowedFd<'_>) -> io::Result<()> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let times = Timestamps {
        last_access: now,
        last_modification: now,
    };
    rustix::fs::futimens(fd, &times).map_err(errno)
}

/// Reads `/proc/PID/stat`.
pub fn read_proc_stat(pid: u32) -> io::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
}

/// `kill(pid, 0)`: `Ok` if the process exists and may be signalled.
pub fn probe_pid(pid: u32) -> io::Result<()> {
    let pid = to_pid(pid)?;
    rustix::process::test_kill_process(pid).map_err(errno)
}

/// Reads the kernel's random boot id.
pub fn read_boot_id() -> io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|id| id.trim().to_owned())
}

/// Returns the node name from `uname`.
pub fn node_name() -> String {
    let uname = rustix::system::uname();
    cstr_lossy(uname.nodename())
}

fn cstr_lossy(value: &CStr) -> String {
    value.to_string_lossy().into_owned()
}

/// Returns the clock ticks per second of `/proc` times (`_SC_CLK_TCK`).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks)
        .ok()
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// Returns whether `/proc/locks` lists a `flock` on the file `id`, or `None`
/// when `/proc/locks` cannot be read.
pub fn has_flock(id: FileId) -> Option<bool> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    let wanted = (rustix::fs::major(id.dev), rustix::fs::minor(id.dev), id.ino);
    Some(
        text.lines()
            .any(|line| flock_line_file(line) == Some(wanted)),
    )
}

/// Parses a `/proc/locks` line such as
/// `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF` into the locked file's
/// (major, minor, inode). Lines of blocked waiters (`->`) are skipped.
fn flock_line_file(line: &str) -> Option<(u32, u32, u64)> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.get(1) != Some(&"FLOCK") {
        return None;
    }
    let mut device = fields.get(5)?.split(':');
    let major = u32::from_str_radix(device.next()?, 16).ok()?;
    let minor = u32::from_str_radix(device.next()?, 16).ok()?;
    let inode = device.next()?.parse().ok()?;
    Some((major, minor, inode))
}

/// Returns this process's PID.
pub fn current_pid() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

fn to_pid(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Opens a pidfd, which names one process even after its PID is reused.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = to_pid(pid)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(errno)
}

/// Sends `signal` to the process a pidfd names.
pub fn pidfd_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> io::Result<()> {
    rustix::process::pidfd_send_signal(pidfd, signal).map_err(errno)
}

/// Returns whether the process a pidfd names has exited (the pidfd is
/// readable).
pub fn pidfd_exited(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    let ready = poll_readable(&[pidfd], Some(Duration::ZERO))?;
    Ok(ready.first().copied().unwrap_or(false))
}

/// Returns the process group of `pid`.
pub fn process_group(pid: u32) -> io::Result<u32> {
    let pid = to_pid(pid)?;
    rustix::process::getpgid(Some(pid))
        .map(|pgid| pgid.as_raw_nonzero().get().unsigned_abs())
        .map_err(errno)
}

/// Returns this process's own process group.
pub fn own_process_group() -> u32 {
    rustix::process::getpgrp()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// Sends `signal` to every process in group `pgid`.
pub fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    let pgid = to_pid(pgid)?;
    rustix::process::kill_process_group(pgid, signal).map_err(errno)
}

/// Waits until one of `fds` is readable or `timeout` passes, and returns
/// which ones are. `EINTR` comes back as an error so that callers can look
/// at their signal flags.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    use rustix::event::{PollFd, PollFlags};

    let mut poll_fds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    let timeout = timeout.map(|timeout| Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    });
    rustix::event::poll(&mut poll_fds, timeout.as_ref()).map_err(errno)?;
    let ready = poll_fds.iter().map(|fd| !fd.revents().is_empty()).collect();
    Ok(ready)
}

/// An inotify watch on one directory.
pub struct DirWatch {
    fd: OwnedFd,
}

impl DirWatch {
    /// Watches `dir` for names being created, removed, moved in, or closed
    /// after writing.
    pub fn new(dir: &Path) -> io::Result<DirWatch> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(errno)?;
        let mask = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_TO
            | WatchFlags::MOVED_FROM
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::ONLYDIR;
        inotify::add_watch(&fd, dir, mask).map_err(errno)?;
        Ok(DirWatch { fd })
    }

    /// Returns the descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Drains queued events and returns whether any named something other
    /// than `ignored`.
    pub fn drain(&self, ignored: &str) -> io::Result<bool> {
        use std::mem::MaybeUninit;

        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = rustix::fs::inotify::Reader::new(&self.fd, &mut buffer);
        let mut seen = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    let file_name = event.file_name().map(CStr::to_bytes);
                    seen |= file_name != Some(ignored.as_bytes());
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(seen),
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => return Err(errno(error)),
            }
        }
    }
}
