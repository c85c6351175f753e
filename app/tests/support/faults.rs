//! A TCP proxy between a desk and the service that can cut the network, answer 503, swallow
//! responses (so the desk times out after the service committed), or point at a restarted
//! service.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Pass everything through.
    None = 0,
    /// The network is cut: connections are refused at once, open ones are dropped.
    Cut = 1,
    /// Every request gets 503 Service Unavailable.
    Error503 = 2,
    /// Requests reach the service; its responses never come back (the desk times out).
    SwallowResponses = 3,
}

#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    fault: Arc<AtomicU8>,
    upstream: Arc<Mutex<SocketAddr>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let proxy = FaultProxy {
            addr,
            fault: Arc::new(AtomicU8::new(fault as u8)),
            upstream: Arc::new(Mutex::new(upstream)),
            open: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (fault, upstream, open, stop) =
            (proxy.fault.clone(), proxy.upstream.clone(), proxy.open.clone(), proxy.stop.clone());
        std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let mode = fault.load(Ordering::SeqCst);
                    if mode == Fault::Cut as u8 {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    if mode == Fault::Error503 as u8 {
                        std::thread::spawn(move || answer_503(client));
                        continue;
                    }
                    let target = *upstream.lock().expect("lock");
                    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_millis(500)) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    {
                        let mut open = open.lock().expect("lock");
                        open.extend(client.try_clone().ok());
                        open.extend(server.try_clone().ok());
                    }
                    let swallow = mode == Fault::SwallowResponses as u8;
                    pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"), false);
                    pipe(server, client, swallow);
                }
            })
            .expect("proxy thread");
        proxy
    }

    /// Changes the fault; open connections are dropped so the next request meets it.
    pub fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Points at a restarted service.
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.upstream.lock().expect("lock") = addr;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.set(Fault::Cut);
        let _ = TcpStream::connect(self.addr);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, swallow: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !swallow && to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

fn answer_503(mut client: TcpStream) {
    // Read the request (headers and a body of up to a few MB) before answering.
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let _ = client.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 29\r\nconnection: close\r\n\r\n{\"error\":\"injected outage\"}\r\n",
    );
    let _ = client.shutdown(Shutdown::Both);
}
