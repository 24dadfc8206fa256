//! The TCP probe (`pkg/probe/tcp`): success when a connection opens within
//! the timeout, else a failure carrying Go's dial error text.

use std::time::Duration;

use super::{dial_error, join_host_port, ProbeDialer, ProbeOutcome};

/// `DoTCPProbe`.
pub async fn tcp_probe(
    host: &str,
    port: u16,
    timeout: Duration,
    dialer: &dyn ProbeDialer,
) -> ProbeOutcome {
    match tokio::time::timeout(timeout, dialer.dial(host, port)).await {
        Ok(Ok(stream)) => {
            drop(stream);
            ProbeOutcome::Success(String::new())
        }
        Ok(Err(e)) => ProbeOutcome::Failure(dial_error(host, port, &e)),
        Err(_) => ProbeOutcome::Failure(format!(
            "dial tcp {}: i/o timeout",
            join_host_port(host, port)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::probe::{BoxFuture, DirectDialer};
    use std::io;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn open_closed_and_silent_ports() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        assert_eq!(
            tcp_probe("127.0.0.1", open, Duration::from_secs(1), &DirectDialer).await,
            ProbeOutcome::Success(String::new())
        );
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            tcp_probe("127.0.0.1", closed, Duration::from_secs(1), &DirectDialer).await,
            ProbeOutcome::Failure(format!(
                "dial tcp 127.0.0.1:{closed}: connect: connection refused"
            ))
        );

        /// A dialer that never connects stands in for an unanswered SYN.
        struct Silent;
        impl ProbeDialer for Silent {
            fn dial<'a>(&'a self, _: &'a str, _: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
                Box::pin(std::future::pending())
            }
        }
        assert_eq!(
            tcp_probe("10.244.0.5", 8080, Duration::from_millis(50), &Silent).await,
            ProbeOutcome::Failure("dial tcp 10.244.0.5:8080: i/o timeout".into())
        );
    }
}
