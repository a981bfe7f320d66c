//! Just enough POSIX to stop the dev server cleanly on Ctrl-C and to know
//! whether we are root — declared by hand to keep the build tool free of
//! dependencies (the C library is linked into every Rust program anyway).

use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod sys {
    use std::os::raw::c_int;

    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15;

    extern "C" {
        pub fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
        pub fn geteuid() -> u32;
    }
}

#[cfg(unix)]
extern "C" fn on_stop_signal(_: std::os::raw::c_int) {
    // Only an atomic store: nothing else is async-signal-safe here.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// From now on Ctrl-C and SIGTERM set a flag instead of killing us.
pub fn catch_stop_signals() {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        sys::signal(sys::SIGINT, on_stop_signal);
        sys::signal(sys::SIGTERM, on_stop_signal);
    }
}

pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Asks a child process to shut down the way a service manager would.
pub fn terminate(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: plain syscall; a vanished pid just yields ESRCH.
        unsafe {
            sys::kill(pid, sys::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

pub fn is_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    return unsafe { sys::geteuid() } == 0;
    #[cfg(not(unix))]
    false
}
