//! Stop signals: SIGTERM and SIGINT on Unix, Ctrl-C elsewhere.

#[cfg(unix)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Installs the handlers now, so a signal arriving before `recv` is not lost.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    pub async fn recv(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    pub async fn recv(self) {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot wait for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
