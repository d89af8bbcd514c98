//! A non-blocking pipe that lets Rust threads wake a Ruby thread waiting in `IO#wait_readable`,
//! which under a fiber scheduler parks only the waiting fiber, not the reactor.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The two ends of a wake-up pipe.
#[derive(Debug)]
pub(crate) struct WakePipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl WakePipe {
    pub(crate) fn new() -> std::io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid two-element buffer for `pipe` to fill.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `pipe` succeeded, so both descriptors are open and owned by us alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            // SAFETY: `fd` is open; these calls only change its flags.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Self { read, write })
    }

    /// The descriptor Ruby waits on.
    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the read end readable. Safe from any thread; a full pipe already means "awake".
    pub(crate) fn wake(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live buffer to an open descriptor. A full pipe fails
        // with EAGAIN, which is fine: the reader has a wake-up pending already.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), (&byte as *const u8).cast(), 1) };
    }

    /// Empties the pipe after a wake-up.
    pub(crate) fn drain(&self) {
        let mut buffer = [0u8; 64];
        loop {
            // SAFETY: reads into a live buffer of the stated length from an open descriptor.
            let read = unsafe {
                libc::read(
                    self.read.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                )
            };
            if read <= 0 || (read as usize) < buffer.len() {
                break;
            }
        }
    }
}
