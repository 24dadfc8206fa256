//! A transaction as one nf_tables netlink batch, the bytes `nft` itself
//! would send. Running `nft` costs far more than the change: at 10,000
//! Services it dumps every chain and set of the table into its cache
//! before it applies even one element (hundreds of milliseconds), whereas
//! the kernel needs only its own commit. So incremental transactions are
//! encoded here, expression by expression as `nft --debug=netlink` shows
//! them, and sent on a netlink socket (`apply`). Whole-table loads (table,
//! base chains, maps) and the firewall's anonymous interval sets are not
//! encoded: `encode` returns `None` and the caller uses `nft`.
//!
//! Pure: builds bytes; the socket lives in `apply`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::Protocol;
use crate::nft::{Addr, Cmp, ElemKey, Element, Match, Rule, Set, SetKind, Stmt, Verdict, VmapKey};
use crate::render;
use crate::tx::{Op, Transaction};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFPROTO_IPV4: u8 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_DELSET: u16 = 11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_USERDATA: u16 = 13;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_TIMEOUT: u16 = 11;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

const NFT_SET_ANONYMOUS: u32 = 0x1;
const NFT_SET_CONSTANT: u32 = 0x2;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_TIMEOUT: u32 = 0x10;
const NFT_SET_EVAL: u32 = 0x20;
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

/// nft's datatype numbers (informational key types it prints sets with).
const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;
/// libnftnl user-data tags: comments (rule, chain, element: 0; set: 7)
/// and a set's key byte order.
const UDATA_COMMENT: u8 = 0;
const UDATA_SET_KEYBYTEORDER: u8 = 0;
const UDATA_SET_COMMENT: u8 = 7;
const BYTEORDER_HOST: u32 = 1;
const BYTEORDER_BIG: u32 = 2;

const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_RETURN: i32 = -5;

/// Registers: the verdict register, the first 16-byte one, and the 4-byte
/// ones that follow it inside a concatenation (nft's "reg 9", "reg 10").
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const REG32_01: u32 = 9;
const REG32_02: u32 = 10;

const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_META_MARK: u32 = 3;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CT_STATE: u32 = 0;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_NG_RANDOM: u32 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 0x2;
const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 0x10;
const NFT_REJECT_ICMP_UNREACH: u32 = 0;
const NFT_REJECT_TCP_RST: u32 = 1;
const ICMP_PORT_UNREACH: u8 = 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_SADDR: u32 = 1;
const RTN_LOCAL: u32 = 2;
const NFT_DYNSET_OP_UPDATE: u32 = 1;
const IP_CT_NEW_BIT: u32 = 0x8;

/// A netlink message under construction: attributes are appended, nests
/// are closed by writing their length back.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Msg {
    fn new(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.push(family);
        buf.push(0); // NFNETLINK_V0
        buf.extend_from_slice(&res_id.to_be_bytes());
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn put(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn u32(&mut self, kind: u16, v: u32) -> &mut Msg {
        self.put(kind, &v.to_be_bytes())
    }

    fn str(&mut self, kind: u16, s: &str) -> &mut Msg {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(kind, &b)
    }

    fn open(&mut self, kind: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn close(&mut self) -> &mut Msg {
        if let Some(at) = self.nests.pop() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }

    /// `NFTA_DATA_VALUE` inside a nest of `kind`.
    fn value(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        self.open(kind).put(NFTA_DATA_VALUE, data).close()
    }

    /// `NFTA_DATA_VERDICT` inside a nest of `kind`.
    fn verdict(&mut self, kind: u16, v: &Verdict) -> &mut Msg {
        let (code, chain) = match v {
            Verdict::Accept => (NF_ACCEPT, None),
            Verdict::Drop => (NF_DROP, None),
            Verdict::Return => (NFT_RETURN, None),
            Verdict::Jump(c) => (NFT_JUMP, Some(c)),
            Verdict::Goto(c) => (NFT_GOTO, Some(c)),
        };
        self.open(kind).open(NFTA_DATA_VERDICT);
        self.u32(NFTA_VERDICT_CODE, code as u32);
        if let Some(c) = chain {
            self.str(NFTA_VERDICT_CHAIN, c);
        }
        self.close().close()
    }
}

/// libnftnl's user-data TLVs: one string, NUL-terminated.
fn udata_str(tag: u8, s: &str) -> Vec<u8> {
    let mut v = vec![tag, (s.len() + 1) as u8];
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

fn udata_u32(tag: u8, n: u32) -> Vec<u8> {
    let mut v = vec![tag, 4];
    v.extend_from_slice(&n.to_ne_bytes());
    v
}

/// A comment as nft stores it: the text `render::quote` would print,
/// without the quotes (nft keeps at most 128 bytes).
fn comment_text(c: &str) -> Option<String> {
    let q = render::quote(c);
    let text = q.get(1..q.len() - 1)?.to_string();
    (text.len() < 128).then_some(text)
}

/// One expression: its name and attributes.
enum Expr {
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Cmp {
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        len: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Meta {
        key: u32,
        dreg: u32,
    },
    MetaSetMark,
    CtState,
    Lookup {
        set: String,
        set_id: Option<u32>,
        dreg: Option<u32>,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
    ImmediateVerdict(Verdict),
    Numgen {
        modulus: u32,
    },
    Dnat,
    Masq,
    Reject {
        tcp: bool,
    },
    FibSaddrType,
    DynsetUpdate {
        set: String,
    },
}

fn payload(base: u32, offset: u32, len: u32) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg: REG_1,
    }
}

fn expr(m: &mut Msg, e: &Expr) {
    let name = match e {
        Expr::Payload { .. } => "payload",
        Expr::Cmp { .. } => "cmp",
        Expr::Bitwise { .. } => "bitwise",
        Expr::Meta { .. } | Expr::MetaSetMark => "meta",
        Expr::CtState => "ct",
        Expr::Lookup { .. } => "lookup",
        Expr::Immediate { .. } | Expr::ImmediateVerdict(_) => "immediate",
        Expr::Numgen { .. } => "numgen",
        Expr::Dnat => "nat",
        Expr::Masq => "masq",
        Expr::Reject { .. } => "reject",
        Expr::FibSaddrType => "fib",
        Expr::DynsetUpdate { .. } => "dynset",
    };
    m.open(NFTA_LIST_ELEM)
        .str(NFTA_EXPR_NAME, name)
        .open(NFTA_EXPR_DATA);
    match e {
        Expr::Payload {
            base,
            offset,
            len,
            dreg,
        } => {
            m.u32(1, *dreg).u32(2, *base).u32(3, *offset).u32(4, *len);
        }
        Expr::Cmp { op, data } => {
            m.u32(1, REG_1).u32(2, *op).value(3, data);
        }
        Expr::Bitwise { len, mask, xor } => {
            m.u32(1, REG_1)
                .u32(2, REG_1)
                .u32(3, *len)
                .value(4, mask)
                .value(5, xor);
        }
        Expr::Meta { key, dreg } => {
            m.u32(1, *dreg).u32(2, *key);
        }
        Expr::MetaSetMark => {
            m.u32(2, NFT_META_MARK).u32(3, REG_1);
        }
        Expr::CtState => {
            m.u32(1, REG_1).u32(2, NFT_CT_STATE);
        }
        Expr::Lookup { set, set_id, dreg } => {
            m.str(1, set).u32(2, REG_1);
            if let Some(d) = dreg {
                m.u32(3, *d);
            }
            if let Some(id) = set_id {
                m.u32(4, *id);
            }
        }
        Expr::Immediate { dreg, data } => {
            m.u32(1, *dreg).value(2, data);
        }
        Expr::ImmediateVerdict(v) => {
            m.u32(1, REG_VERDICT).verdict(2, v);
        }
        Expr::Numgen { modulus } => {
            m.u32(1, REG_1)
                .u32(2, *modulus)
                .u32(3, NFT_NG_RANDOM)
                .u32(4, 0);
        }
        Expr::Dnat => {
            m.u32(1, NFT_NAT_DNAT)
                .u32(2, NFPROTO_IPV4 as u32)
                .u32(3, REG_1)
                .u32(5, REG_2)
                .u32(7, NF_NAT_RANGE_PROTO_SPECIFIED);
        }
        Expr::Masq => {
            m.u32(1, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
        }
        Expr::Reject { tcp: true } => {
            m.u32(1, NFT_REJECT_TCP_RST);
        }
        Expr::Reject { tcp: false } => {
            m.u32(1, NFT_REJECT_ICMP_UNREACH)
                .put(2, &[ICMP_PORT_UNREACH]);
        }
        Expr::FibSaddrType => {
            m.u32(1, REG_1)
                .u32(2, NFT_FIB_RESULT_ADDRTYPE)
                .u32(3, NFTA_FIB_F_SADDR);
        }
        Expr::DynsetUpdate { set } => {
            m.str(1, set).u32(3, NFT_DYNSET_OP_UPDATE).u32(4, REG_1);
        }
    }
    m.close().close();
}

fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// `ip saddr`/`ip daddr` against one address or prefix, as nft compiles
/// it: whole bytes of a byte-aligned prefix are loaded and compared, other
/// prefixes are masked.
fn addr_match(out: &mut Vec<Expr>, offset: u32, cmp: Cmp, net: Ipv4Net) -> Option<()> {
    let op = match cmp {
        Cmp::Eq => NFT_CMP_EQ,
        Cmp::Ne => NFT_CMP_NEQ,
    };
    let bits = u32::from(net.prefix_len());
    let octets = net.network().octets();
    if bits == 0 {
        return None;
    }
    if bits % 8 == 0 {
        let n = bits / 8;
        out.push(payload(NFT_PAYLOAD_NETWORK_HEADER, offset, n));
        out.push(Expr::Cmp {
            op,
            data: octets[..n as usize].to_vec(),
        });
    } else {
        out.push(payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4));
        out.push(Expr::Bitwise {
            len: 4,
            mask: net.netmask().octets().to_vec(),
            xor: vec![0; 4],
        });
        out.push(Expr::Cmp {
            op,
            data: octets.to_vec(),
        });
    }
    Some(())
}

/// `meta l4proto P`.
fn l4proto_match(out: &mut Vec<Expr>, p: Protocol) {
    out.push(Expr::Meta {
        key: NFT_META_L4PROTO,
        dreg: REG_1,
    });
    out.push(Expr::Cmp {
        op: NFT_CMP_EQ,
        data: vec![proto_num(p)],
    });
}

/// A rule's expressions, plus the anonymous verdict map a `numgen` needs.
fn rule_exprs(r: &Rule, anon: &str, anon_id: u32) -> Option<Vec<Expr>> {
    let mut out = Vec::new();
    for m in &r.matches {
        match m {
            Match::CtStateNew => {
                out.push(Expr::CtState);
                out.push(Expr::Bitwise {
                    len: 4,
                    mask: IP_CT_NEW_BIT.to_ne_bytes().to_vec(),
                    xor: vec![0; 4],
                });
                out.push(Expr::Cmp {
                    op: NFT_CMP_NEQ,
                    data: vec![0; 4],
                });
            }
            Match::Daddr(c, a) | Match::Saddr(c, a) => {
                let offset = if matches!(m, Match::Daddr(..)) {
                    16
                } else {
                    12
                };
                match a {
                    Addr::Ip(ip) => addr_match(&mut out, offset, *c, Ipv4Net::from(*ip))?,
                    Addr::Net(n) => addr_match(&mut out, offset, *c, *n)?,
                    Addr::Set(s) if *c == Cmp::Eq => {
                        out.push(payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4));
                        out.push(Expr::Lookup {
                            set: s.clone(),
                            set_id: None,
                            dreg: None,
                        });
                    }
                    // Anonymous interval sets (the firewall's ranges): nft does those.
                    _ => return None,
                }
            }
            Match::L4proto(p) => l4proto_match(&mut out, *p),
            Match::Dport(p, port) => {
                // `tcp dport 80` is `meta l4proto tcp` and then the port.
                l4proto_match(&mut out, *p);
                out.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
                out.push(Expr::Cmp {
                    op: NFT_CMP_EQ,
                    data: port.to_be_bytes().to_vec(),
                });
            }
            Match::FibSaddrLocal => {
                out.push(Expr::FibSaddrType);
                out.push(Expr::Cmp {
                    op: NFT_CMP_EQ,
                    data: RTN_LOCAL.to_ne_bytes().to_vec(),
                });
            }
            Match::MarkClear(mask) => {
                out.push(Expr::Meta {
                    key: NFT_META_MARK,
                    dreg: REG_1,
                });
                out.push(Expr::Bitwise {
                    len: 4,
                    mask: mask.to_ne_bytes().to_vec(),
                    xor: vec![0; 4],
                });
                out.push(Expr::Cmp {
                    op: NFT_CMP_EQ,
                    data: vec![0; 4],
                });
            }
        }
    }
    match &r.stmt {
        Stmt::Verdict(v) => out.push(Expr::ImmediateVerdict(v.clone())),
        Stmt::Reject => out.push(Expr::Reject { tcp: false }),
        Stmt::RejectTcpReset => out.push(Expr::Reject { tcp: true }),
        Stmt::Vmap { key, map } => {
            match key {
                VmapKey::DaddrProtoPort => {
                    out.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4));
                    out.push(Expr::Meta {
                        key: NFT_META_L4PROTO,
                        dreg: REG32_01,
                    });
                    out.push(Expr::Payload {
                        base: NFT_PAYLOAD_TRANSPORT_HEADER,
                        offset: 2,
                        len: 2,
                        dreg: REG32_02,
                    });
                }
                VmapKey::ProtoPort => {
                    out.push(Expr::Meta {
                        key: NFT_META_L4PROTO,
                        dreg: REG_1,
                    });
                    out.push(Expr::Payload {
                        base: NFT_PAYLOAD_TRANSPORT_HEADER,
                        offset: 2,
                        len: 2,
                        dreg: REG32_01,
                    });
                }
            }
            out.push(Expr::Lookup {
                set: map.clone(),
                set_id: None,
                dreg: Some(REG_VERDICT),
            });
        }
        Stmt::NumgenVmap(targets) => {
            out.push(Expr::Numgen {
                modulus: targets.len() as u32,
            });
            out.push(Expr::Lookup {
                set: anon.to_string(),
                set_id: Some(anon_id),
                dreg: Some(REG_VERDICT),
            });
        }
        Stmt::MarkOr(mask) => {
            out.push(Expr::Meta {
                key: NFT_META_MARK,
                dreg: REG_1,
            });
            out.push(Expr::Bitwise {
                len: 4,
                mask: (!mask).to_ne_bytes().to_vec(),
                xor: mask.to_ne_bytes().to_vec(),
            });
            out.push(Expr::MetaSetMark);
        }
        Stmt::MarkXor(mask) => {
            out.push(Expr::Meta {
                key: NFT_META_MARK,
                dreg: REG_1,
            });
            out.push(Expr::Bitwise {
                len: 4,
                mask: u32::MAX.to_ne_bytes().to_vec(),
                xor: mask.to_ne_bytes().to_vec(),
            });
            out.push(Expr::MetaSetMark);
        }
        Stmt::Masquerade => out.push(Expr::Masq),
        Stmt::Dnat(to) => {
            out.push(Expr::Immediate {
                dreg: REG_1,
                data: to.ip().octets().to_vec(),
            });
            out.push(Expr::Immediate {
                dreg: REG_2,
                data: to.port().to_be_bytes().to_vec(),
            });
            out.push(Expr::Dnat);
        }
        Stmt::UpdateSaddr(set) => {
            out.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4));
            out.push(Expr::DynsetUpdate { set: set.clone() });
        }
    }
    Some(out)
}

/// A map element key as the kernel stores it: each field in its own
/// 4-byte register slot, network byte order.
fn elem_key_bytes(k: &ElemKey) -> Vec<u8> {
    let proto_port = |p: Protocol, port: u16| {
        let mut v = vec![proto_num(p), 0, 0, 0];
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v
    };
    match k {
        ElemKey::AddrProtoPort(ip, p, port) => {
            let mut v = ip.octets().to_vec();
            v.extend(proto_port(*p, *port));
            v
        }
        ElemKey::ProtoPort(p, port) => proto_port(*p, *port),
    }
}

/// The batch for a transaction. Only its last command asks for an
/// acknowledgement (errors are reported anyway, before it), so a batch of
/// thousands of commands cannot overflow the socket with replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// Sequence number of the batch header (the kernel answers it when it
    /// could not even record errors).
    pub begin_seq: u32,
    /// Sequence number of the acknowledged last command.
    pub last_seq: u32,
}

struct Builder<'t> {
    table: &'t str,
    seq: u32,
    /// Transaction-local ids of anonymous sets.
    next_id: u32,
    msgs: Vec<Vec<u8>>,
}

impl Builder<'_> {
    fn msg(&mut self, kind: u16, flags: u16) -> Msg {
        self.seq = self.seq.wrapping_add(1);
        Msg::new(
            (NFNL_SUBSYS_NFTABLES << 8) | kind,
            flags,
            self.seq,
            NFPROTO_IPV4,
            0,
        )
    }

    fn push(&mut self, m: Msg) {
        self.msgs.push(m.finish());
    }

    fn elements<'e>(
        &mut self,
        kind: u16,
        set: &str,
        set_id: Option<u32>,
        elems: impl Iterator<Item = (Vec<u8>, Option<&'e Element>)>,
    ) {
        let flags = if kind == NFT_MSG_NEWSETELEM {
            NLM_F_CREATE
        } else {
            0
        };
        let mut m = self.msg(kind, flags);
        m.str(NFTA_SET_ELEM_LIST_TABLE, self.table)
            .str(NFTA_SET_ELEM_LIST_SET, set);
        if let Some(id) = set_id {
            m.u32(NFTA_SET_ELEM_LIST_SET_ID, id);
        }
        m.open(NFTA_SET_ELEM_LIST_ELEMENTS);
        for (key, value) in elems {
            m.open(NFTA_LIST_ELEM).value(NFTA_SET_ELEM_KEY, &key);
            if let Some(e) = value {
                m.verdict(NFTA_SET_ELEM_DATA, &e.verdict);
                if let Some(c) = e.comment.as_deref().and_then(comment_text) {
                    m.put(NFTA_SET_ELEM_USERDATA, &udata_str(UDATA_COMMENT, &c));
                }
            }
            m.close();
        }
        m.close();
        self.push(m);
    }

    fn rule(&mut self, chain: &str, r: &Rule) -> Option<()> {
        let mut anon = String::new();
        let mut anon_id = 0;
        if let Stmt::NumgenVmap(targets) = &r.stmt {
            self.next_id += 1;
            anon_id = self.next_id;
            // The kernel picks the number, as for nft's own anonymous maps.
            anon = "__map%d".to_string();
            let mut m = self.msg(NFT_MSG_NEWSET, NLM_F_CREATE);
            m.str(NFTA_SET_TABLE, self.table)
                .str(NFTA_SET_NAME, &anon)
                .u32(
                    NFTA_SET_FLAGS,
                    NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
                )
                .u32(NFTA_SET_KEY_TYPE, TYPE_INTEGER)
                .u32(NFTA_SET_KEY_LEN, 4)
                .u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT)
                .open(NFTA_SET_DESC)
                .u32(NFTA_SET_DESC_SIZE, targets.len() as u32)
                .close()
                .u32(NFTA_SET_ID, anon_id)
                .put(
                    NFTA_SET_USERDATA,
                    &udata_u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_HOST),
                );
            self.push(m);
            let elems: Vec<Element> = targets
                .iter()
                .map(|t| Element {
                    verdict: Verdict::Goto(t.clone()),
                    comment: None,
                })
                .collect();
            self.elements(
                NFT_MSG_NEWSETELEM,
                &anon,
                Some(anon_id),
                elems
                    .iter()
                    .enumerate()
                    .map(|(i, e)| ((i as u32).to_ne_bytes().to_vec(), Some(e))),
            );
        }
        let exprs = rule_exprs(r, &anon, anon_id)?;
        let mut m = self.msg(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        m.str(NFTA_RULE_TABLE, self.table)
            .str(NFTA_RULE_CHAIN, chain)
            .open(NFTA_RULE_EXPRESSIONS);
        for e in &exprs {
            expr(&mut m, e);
        }
        m.close();
        if let Some(c) = r.comment.as_deref().and_then(comment_text) {
            m.put(NFTA_RULE_USERDATA, &udata_str(UDATA_COMMENT, &c));
        }
        self.push(m);
        Some(())
    }

    fn op(&mut self, op: &Op) -> Option<()> {
        match op {
            Op::AddChain {
                name,
                base: None,
                comment,
            } => {
                let mut m = self.msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
                m.str(NFTA_CHAIN_TABLE, self.table)
                    .str(NFTA_CHAIN_NAME, name);
                if let Some(c) = comment.as_deref().and_then(comment_text) {
                    m.put(NFTA_CHAIN_USERDATA, &udata_str(UDATA_COMMENT, &c));
                }
                self.push(m);
            }
            Op::FlushChain(c) => {
                let mut m = self.msg(NFT_MSG_DELRULE, 0);
                m.str(NFTA_RULE_TABLE, self.table).str(NFTA_RULE_CHAIN, c);
                self.push(m);
            }
            Op::DeleteChain(c) => {
                let mut m = self.msg(NFT_MSG_DELCHAIN, 0);
                m.str(NFTA_CHAIN_TABLE, self.table).str(NFTA_CHAIN_NAME, c);
                self.push(m);
            }
            Op::AddRule { chain, rule } => self.rule(chain, rule)?,
            Op::AddSet(Set {
                name,
                comment,
                kind: SetKind::Dynamic { timeout },
            }) => {
                self.next_id += 1;
                let mut udata = udata_u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG);
                if let Some(c) = comment.as_deref().and_then(comment_text) {
                    udata.extend(udata_str(UDATA_SET_COMMENT, &c));
                }
                let mut m = self.msg(NFT_MSG_NEWSET, NLM_F_CREATE);
                m.str(NFTA_SET_TABLE, self.table)
                    .str(NFTA_SET_NAME, name)
                    .u32(NFTA_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL)
                    .u32(NFTA_SET_KEY_TYPE, TYPE_IPADDR)
                    .u32(NFTA_SET_KEY_LEN, 4)
                    .put(
                        NFTA_SET_TIMEOUT,
                        &(u64::from(*timeout) * 1000).to_be_bytes(),
                    )
                    .u32(NFTA_SET_ID, self.next_id)
                    .put(NFTA_SET_USERDATA, &udata);
                self.push(m);
            }
            Op::DeleteSet(s) => {
                let mut m = self.msg(NFT_MSG_DELSET, 0);
                m.str(NFTA_SET_TABLE, self.table).str(NFTA_SET_NAME, s);
                self.push(m);
            }
            Op::AddSetElements { set, ips } | Op::DeleteSetElements { set, ips } => {
                let kind = if matches!(op, Op::AddSetElements { .. }) {
                    NFT_MSG_NEWSETELEM
                } else {
                    NFT_MSG_DELSETELEM
                };
                let keys = ips.iter().map(|ip: &Ipv4Addr| (ip.octets().to_vec(), None));
                self.elements(kind, set, None, keys);
            }
            Op::AddMapElements { map, elems } => {
                let items = elems.iter().map(|(k, e)| (elem_key_bytes(k), Some(e)));
                self.elements(NFT_MSG_NEWSETELEM, map, None, items);
            }
            Op::DeleteMapElements { map, keys } => {
                let items = keys.iter().map(|k| (elem_key_bytes(k), None));
                self.elements(NFT_MSG_DELSETELEM, map, None, items);
            }
            // Whole-table work: left to nft.
            Op::AddTable { .. }
            | Op::DeleteTable
            | Op::AddChain { base: Some(_), .. }
            | Op::AddSet(_)
            | Op::AddMap(_) => return None,
        }
        Some(())
    }
}

/// The netlink batch for `tx` (sequence numbers from `seq + 1`), or `None`
/// when it holds commands this encoder leaves to nft.
pub fn encode(tx: &Transaction, seq: u32) -> Option<Batch> {
    let mut b = Builder {
        table: &tx.table,
        seq,
        next_id: 0,
        msgs: Vec::new(),
    };
    let begin = Msg::new(NFNL_MSG_BATCH_BEGIN, 0, seq, 0, NFNL_SUBSYS_NFTABLES);
    for op in &tx.ops {
        b.op(op)?;
    }
    let last = b.msgs.last_mut()?;
    let flags = u16::from_ne_bytes([last[6], last[7]]) | NLM_F_ACK;
    last[6..8].copy_from_slice(&flags.to_ne_bytes());
    let end = Msg::new(
        NFNL_MSG_BATCH_END,
        0,
        b.seq.wrapping_add(1),
        0,
        NFNL_SUBSYS_NFTABLES,
    );
    let mut bytes = begin.finish();
    for m in b.msgs {
        bytes.extend(m);
    }
    bytes.extend(end.finish());
    Some(Batch {
        bytes,
        begin_seq: seq,
        last_seq: b.seq,
    })
}

const NLMSG_ERROR: u16 = 2;

/// The acknowledgements in a buffer of replies: (sequence number, errno;
/// 0 for success).
pub fn acks(buf: &[u8]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let word = |i: usize| buf.get(i..i + 4).map(|b| [b[0], b[1], b[2], b[3]]);
        let Some(len) = word(at).map(|w| u32::from_ne_bytes(w) as usize) else {
            break;
        };
        if len < 16 || at + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = word(at + 8).map_or(0, u32::from_ne_bytes);
        if kind == NLMSG_ERROR {
            if let Some(code) = word(at + 16).map(i32::from_ne_bytes) {
                out.push((seq, -code));
            }
        }
        at += align4(len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_are_read() {
        let ack = |seq: u32, code: i32| {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&0u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(&code.to_ne_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        };
        let mut buf = ack(7, 0);
        buf.extend(ack(8, -2));
        assert_eq!(acks(&buf), [(7, 0), (8, 2)]);
        assert_eq!(acks(&buf[..20]), []);
    }

    /// (type, payload) of each attribute in `b`.
    fn attrs(b: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 4 <= b.len() {
            let len = u16::from_ne_bytes([b[at], b[at + 1]]) as usize;
            let kind = u16::from_ne_bytes([b[at + 2], b[at + 3]]) & 0x7fff;
            out.push((kind, &b[at + 4..at + len]));
            at += align4(len);
        }
        out
    }

    /// The messages of a batch: (type, flags, attribute bytes).
    fn messages(b: &[u8]) -> Vec<(u16, u16, &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 20 <= b.len() {
            let len = u32::from_ne_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes([b[at + 4], b[at + 5]]);
            let flags = u16::from_ne_bytes([b[at + 6], b[at + 7]]);
            out.push((kind, flags, &b[at + 20..at + len]));
            at += align4(len);
        }
        assert_eq!(at, b.len());
        out
    }

    fn tx(ops: Vec<Op>) -> Transaction {
        Transaction {
            table: "k1s".into(),
            ops,
        }
    }

    #[test]
    fn element_batch_layout() {
        let key = ElemKey::AddrProtoPort(Ipv4Addr::new(10, 96, 0, 50), Protocol::Tcp, 80);
        let e = Element {
            verdict: Verdict::Goto("svc".into()),
            comment: Some("default/web ClusterIP".into()),
        };
        let b = encode(
            &tx(vec![Op::AddMapElements {
                map: "service-ips".into(),
                elems: vec![(key, e)],
            }]),
            100,
        )
        .expect("encodable");
        assert_eq!((b.begin_seq, b.last_seq), (100, 101));
        let msgs = messages(&b.bytes);
        assert_eq!(msgs.len(), 3);
        assert_eq!((msgs[0].0, msgs[2].0), (16, 17), "batch begin and end");
        assert_eq!(msgs[1].0, 0x0a0c, "NFT_MSG_NEWSETELEM");
        assert_eq!(msgs[1].1, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
        let top = attrs(msgs[1].2);
        assert_eq!(top[0], (1, &b"k1s\0"[..]));
        assert_eq!(top[1], (2, &b"service-ips\0"[..]));
        let elem = attrs(attrs(top[2].1)[0].1);
        let key = attrs(elem[0].1);
        assert_eq!(key[0].1, [10, 96, 0, 50, 6, 0, 0, 0, 0, 80, 0, 0]);
        let verdict = attrs(attrs(elem[1].1)[0].1);
        assert_eq!(verdict[0].1, (-4i32).to_be_bytes(), "goto");
        assert_eq!(verdict[1].1, b"svc\0");
        assert_eq!(elem[2].1, b"\x00\x16default/web ClusterIP\x00");
    }

    #[test]
    fn numgen_rule_brings_its_anonymous_map() {
        let r = Rule::new(vec![], Stmt::NumgenVmap(vec!["a".into(), "b".into()]));
        let b = encode(
            &tx(vec![Op::AddRule {
                chain: "svc".into(),
                rule: r,
            }]),
            0,
        )
        .expect("encodable");
        let msgs = messages(&b.bytes);
        let kinds: Vec<u16> = msgs.iter().map(|m| m.0 & 0xff).collect();
        // begin, NEWSET, NEWSETELEM, NEWRULE, end
        assert_eq!(kinds, [16, 9, 12, 6, 17]);
        // Only the last command asks for an acknowledgement.
        let acked: Vec<bool> = msgs.iter().map(|m| m.1 & NLM_F_ACK != 0).collect();
        assert_eq!(acked, [false, false, false, true, false]);
        let set = attrs(msgs[1].2);
        assert_eq!(set[1].1, b"__map%d\0");
        assert_eq!(set[2].1, 0xbu32.to_be_bytes());
        let exprs = attrs(attrs(msgs[3].2)[2].1);
        let names: Vec<&[u8]> = exprs.iter().map(|e| attrs(e.1)[0].1).collect();
        assert_eq!(names, [&b"numgen\0"[..], b"lookup\0"]);
    }

    #[test]
    fn prefixes_compile_like_nft() {
        let mut out = Vec::new();
        addr_match(&mut out, 12, Cmp::Ne, "10.244.0.0/16".parse().unwrap()).unwrap();
        assert!(matches!(
            &out[0],
            Expr::Payload {
                offset: 12,
                len: 2,
                ..
            }
        ));
        assert!(matches!(&out[1], Expr::Cmp { op: 1, data } if data == &[10, 244]));
        out.clear();
        addr_match(&mut out, 16, Cmp::Eq, "10.96.0.0/12".parse().unwrap()).unwrap();
        assert!(matches!(&out[1], Expr::Bitwise { mask, .. } if mask == &[255, 240, 0, 0]));
        assert!(matches!(&out[2], Expr::Cmp { data, .. } if data == &[10, 96, 0, 0]));
    }

    #[test]
    fn whole_table_work_is_left_to_nft() {
        assert_eq!(encode(&tx(vec![Op::DeleteTable]), 0), None);
        let firewall = Rule::new(
            vec![Match::Saddr(
                Cmp::Ne,
                Addr::Nets(vec!["10.0.0.0/8".parse().unwrap()]),
            )],
            Stmt::Verdict(Verdict::Drop),
        );
        assert_eq!(
            encode(
                &tx(vec![Op::AddRule {
                    chain: "fw".into(),
                    rule: firewall
                }]),
                0
            ),
            None
        );
    }
}
