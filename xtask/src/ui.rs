//! Progress output. Progress goes to stderr so it interleaves correctly with
//! cargo's own output; results meant for the reader go to stdout.

pub fn step(msg: impl AsRef<str>) {
    eprintln!("==> {}", msg.as_ref());
}

pub fn warn(msg: impl AsRef<str>) {
    eprintln!("warning: {}", msg.as_ref());
}

pub fn note(msg: impl AsRef<str>) {
    eprintln!("    {}", msg.as_ref());
}
