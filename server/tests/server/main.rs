//! Tests against the real `baton-server` binary on 127.0.0.1, each with its
//! own SQLite file in a temporary directory.

mod api;
mod cobrowse;
mod common;
mod lifecycle;
mod orgs;
mod pairing;
mod push;
mod sent_tabs;
mod sync;
