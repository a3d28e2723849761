//! A brokered file open (request over the broker channel, the broker's check and
//! openat2, the fd back in SCM_RIGHTS) against a plain SEQPACKET round trip plus
//! a direct open. Run with `cargo bench --bench broker_open`.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bitcoin_mp::broker::channel::{
    decode_broker_message, decode_request, encode_broker_message, encode_request, recv_datagram,
    BrokerMessage, Reply, Request,
};
use bitcoin_mp::broker::files::{self, OpenRequest};
use bitcoin_mp::ipc::spawn::ChildRole;
use nix::sys::socket::{
    send, sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 20_000 } else { 20 };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("peers.dat"), b"x").unwrap();
    let root = files::open_root(dir.path()).unwrap();
    let (child, broker) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();

    // The broker side on its own thread: decode, check, open, reply with the fd.
    let broker_thread = std::thread::spawn(move || {
        while let Ok(Some(d)) = recv_datagram(broker.as_raw_fd()) {
            if d.bytes == b"ping" {
                send(broker.as_raw_fd(), b"pong", MsgFlags::empty()).unwrap();
                continue;
            }
            let (id, req) = decode_request(&d.bytes).unwrap();
            let Request::OpenFile(open) = req else {
                panic!("unexpected request")
            };
            let fd = files::open(ChildRole::NodeWorker, &root, &open).unwrap();
            let reply = encode_broker_message(&BrokerMessage::Reply {
                id,
                reply: Reply::FileOpened,
            });
            let iov = [std::io::IoSlice::new(&reply)];
            let fds = [fd.as_raw_fd()];
            sendmsg::<()>(
                broker.as_raw_fd(),
                &iov,
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
    });

    let request = OpenRequest {
        path: "peers.dat".into(),
        write: false,
        create: false,
        truncate: false,
    };
    let brokered = time(rounds, || {
        send(
            child.as_raw_fd(),
            &encode_request(1, &Request::OpenFile(request.clone())),
            MsgFlags::empty(),
        )
        .unwrap();
        let d = recv_datagram(child.as_raw_fd()).unwrap().unwrap();
        assert!(matches!(
            decode_broker_message(&d.bytes).unwrap(),
            BrokerMessage::Reply {
                reply: Reply::FileOpened,
                ..
            }
        ));
        assert_eq!(d.fds.len(), 1);
    });
    let round_trip = time(rounds, || {
        send(child.as_raw_fd(), b"ping", MsgFlags::empty()).unwrap();
        recv_datagram(child.as_raw_fd()).unwrap().unwrap();
    });
    let path = dir.path().join("peers.dat");
    let direct = time(rounds, || {
        std::fs::File::open(&path).unwrap();
    });
    drop(child);
    broker_thread.join().unwrap();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("{:>28} {:>10}", "operation", "us/op");
    println!("{:>28} {:>10.2}", "seqpacket round trip", us(round_trip));
    println!("{:>28} {:>10.2}", "direct open", us(direct));
    println!(
        "{:>28} {:>10.2}",
        "round trip + open",
        us(round_trip + direct)
    );
    println!("{:>28} {:>10.2}", "brokered open", us(brokered));
}

fn time(rounds: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..rounds / 10 + 1 {
        f();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed() / rounds
}
