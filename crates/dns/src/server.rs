//! The request handler for every query (hickory-server calls it for TCP,
//! `udp` for UDP datagrams that miss its reply cache): answers from the
//! current zone, forwards the rest (only for clients that may recurse),
//! counts metrics, and logs queries when asked to. The largest UDP answer
//! is 4096 bytes whatever the client's EDNS buffer says (no IP
//! fragmentation games; TC sends the client to TCP).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::forward::Forwarded;
use crate::metrics::rcode_name;
use crate::wire::{MAX_PAYLOAD, MIN_PAYLOAD};
use crate::zone::Outcome;
use crate::Shared;

pub(crate) struct Handler {
    pub(crate) shared: Arc<Shared>,
}

/// The sections of one response.
struct Reply<'a> {
    rcode: ResponseCode,
    authoritative: bool,
    recursion_available: bool,
    answers: &'a [Record],
    more_answers: &'a [Record],
    authority: &'a [Record],
    additionals: &'a [Record],
    /// Index into metrics::PLUGINS.
    plugin: usize,
}

impl<'a> Reply<'a> {
    fn error(rcode: ResponseCode) -> Self {
        Reply {
            rcode,
            authoritative: false,
            recursion_available: false,
            answers: &[],
            more_answers: &[],
            authority: &[],
            additionals: &[],
            plugin: 0,
        }
    }

    fn forwarded(f: &'a Forwarded) -> Self {
        Reply {
            rcode: f.rcode,
            authoritative: false,
            recursion_available: f.recursion_available,
            answers: &f.answers,
            more_answers: &[],
            authority: &f.authorities,
            additionals: &f.additionals,
            plugin: 2,
        }
    }
}

pub(crate) fn client_ip(src: SocketAddr) -> IpAddr {
    src.ip().to_canonical()
}

impl Handler {
    fn may_recurse(&self, src: SocketAddr) -> bool {
        let ip = client_ip(src);
        self.shared
            .config
            .recursion_allowed
            .iter()
            .any(|n| n.contains(&ip))
    }

    async fn send<R: ResponseHandler>(
        &self,
        request: &Request,
        edns: Option<&Edns>,
        handle: &mut R,
        reply: Reply<'_>,
        start: Instant,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = reply.rcode;
        metadata.authoritative = reply.authoritative;
        metadata.recursion_available = reply.recursion_available;
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            reply.answers.iter().chain(reply.more_answers.iter()),
            std::iter::empty(),
            reply.authority.iter(),
            reply.additionals.iter(),
        );
        // Counted before the reply leaves: a client holding its answer
        // finds it in /metrics already.
        let took = start.elapsed();
        self.shared
            .metrics
            .response(reply.rcode, reply.plugin, took);
        let info = match handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "could not send a DNS response");
                let mut failed = Metadata::response_from_request(&request.metadata);
                failed.response_code = ResponseCode::ServFail;
                hickory_server::proto::op::Header {
                    metadata: failed,
                    counts: Default::default(),
                }
                .into()
            }
        };
        if self.shared.config.log_queries {
            log_query(request, &info, took);
        }
        info
    }
}

fn log_query(request: &Request, info: &ResponseInfo, took: std::time::Duration) {
    let proto = if request.protocol() == Protocol::Tcp {
        "tcp"
    } else {
        "udp"
    };
    let (name, qtype, class) = match request.queries.queries().first() {
        Some(q) => (
            q.name().to_string(),
            q.query_type().to_string(),
            q.query_class().to_string(),
        ),
        None => (String::from("."), String::from("-"), String::from("-")),
    };
    let (dnssec_ok, bufsize) = match &request.edns {
        Some(e) => (e.flags().dnssec_ok, e.max_payload()),
        None => (false, 512),
    };
    let mut flags = vec!["qr"];
    for (set, name) in [
        (info.authoritative, "aa"),
        (info.truncation, "tc"),
        (info.recursion_desired, "rd"),
        (info.recursion_available, "ra"),
    ] {
        if set {
            flags.push(name);
        }
    }
    // The shape of CoreDNS's `log` plugin line.
    tracing::info!(
        target: "k1s_dns::query",
        "{} - {} \"{qtype} {class} {name} {proto} {dnssec_ok} {bufsize}\" {} {} {:.9}s",
        request.src(),
        request.metadata.id,
        rcode_name(info.response_code),
        flags.join(","),
        took.as_secs_f64()
    );
}

impl Handler {
    /// Answers one request through `handle`; also says whether the reply
    /// depends only on the question and the zone version (no upstream, no
    /// client address, no sync state), so that UDP may reuse it.
    pub(crate) async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        handle: &mut R,
    ) -> (ResponseInfo, bool) {
        let start = Instant::now();
        // EDNS: answer with our own OPT; only version 0 exists (RFC 6891).
        let mut resp_edns = None;
        if let Some(req) = &request.edns {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().clamp(MIN_PAYLOAD, MAX_PAYLOAD));
            e.set_version(0);
            let bad_version = req.version() > 0;
            resp_edns = Some(e);
            if bad_version {
                let info = self
                    .send(
                        request,
                        resp_edns.as_ref(),
                        handle,
                        Reply::error(ResponseCode::BADVERS),
                        start,
                    )
                    .await;
                return (info, false);
            }
        }
        let edns = resp_edns.as_ref();
        if request.metadata.op_code != OpCode::Query {
            let reply = Reply::error(ResponseCode::NotImp);
            return (self.send(request, edns, handle, reply, start).await, false);
        }
        let Ok(info) = request.request_info() else {
            // Zero or several questions.
            let reply = Reply::error(ResponseCode::FormErr);
            return (self.send(request, edns, handle, reply, start).await, false);
        };
        let qname = info.query.name();
        let qtype = info.query.query_type();
        let qclass = info.query.query_class();
        let src = request.src();
        self.shared.metrics.request(
            request.protocol() == Protocol::Tcp,
            client_ip(src).is_ipv6(),
            qtype,
        );
        if qclass != DNSClass::IN {
            let reply = Reply::error(ResponseCode::Refused);
            return (self.send(request, edns, handle, reply, start).await, false);
        }

        let zone = self.shared.zone.load_full();
        match zone.answer(qname, qtype) {
            Outcome::Local(answer) => {
                // Until the first full sync a "no such name" may be wrong:
                // SERVFAIL so that clients retry instead of caching it.
                if answer.rcode == ResponseCode::NXDomain && !self.shared.synced.load(Relaxed) {
                    let mut reply = Reply::error(ResponseCode::ServFail);
                    reply.plugin = 1;
                    return (self.send(request, edns, handle, reply, start).await, false);
                }
                let reusable = answer.chase.is_none();
                let chased = match answer.chase {
                    Some(target) if self.may_recurse(src) => {
                        self.shared
                            .forwarder
                            .resolve(target, qtype, qclass, &self.shared.metrics)
                            .await
                    }
                    _ => None,
                };
                let reply = Reply {
                    rcode: answer.rcode,
                    authoritative: answer.authoritative,
                    recursion_available: false,
                    answers: &answer.answers,
                    more_answers: chased.as_ref().map(|f| f.answers.as_slice()).unwrap_or(&[]),
                    authority: answer.authority,
                    additionals: answer.additionals,
                    plugin: 1,
                };
                (
                    self.send(request, edns, handle, reply, start).await,
                    reusable,
                )
            }
            Outcome::Forward => {
                drop(zone);
                if !self.may_recurse(src) {
                    let reply = Reply::error(ResponseCode::Refused);
                    return (self.send(request, edns, handle, reply, start).await, false);
                }
                let info = match self
                    .shared
                    .forwarder
                    .resolve(qname, qtype, qclass, &self.shared.metrics)
                    .await
                {
                    Some(f) => {
                        self.send(request, edns, handle, Reply::forwarded(&f), start)
                            .await
                    }
                    None => {
                        let mut reply = Reply::error(ResponseCode::ServFail);
                        reply.plugin = 2;
                        self.send(request, edns, handle, reply, start).await
                    }
                };
                (info, false)
            }
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut handle: R,
    ) -> ResponseInfo {
        self.respond(request, &mut handle).await.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_client_ip() {
        let mapped: SocketAddr = "[::ffff:10.244.0.5]:53".parse().unwrap();
        assert_eq!(client_ip(mapped), "10.244.0.5".parse::<IpAddr>().unwrap());
    }
}
