//! Connection caps of one listener: at most `total` connections open at once, and at most
//! `per_address` from one client address, so a single client (or a flood from one address)
//! cannot hold every socket, file descriptor and TLS handshake of the node. A connection over a
//! cap is closed as soon as it is accepted, before any byte is read; each refusal is counted
//! (`mz_connections_refused{listener, cap}`). Clients behind one address (a venue's NAT, a load
//! balancer that does not send the PROXY protocol) share its cap: size it for them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The open connections of one listener, by client address.
#[derive(Debug)]
pub struct ConnectionSlots {
    total: usize,
    per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapReached {
    /// The listener's `total`.
    Total,
    /// The client address's `per_address`.
    PerAddress,
}

/// One open connection's place; freed when dropped (when the connection's task ends).
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    address: IpAddr,
}

impl ConnectionSlots {
    pub fn new(total: usize, per_address: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            total,
            per_address,
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for a connection from `address`, or the cap that is reached.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, CapReached> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total {
            return Err(CapReached::Total);
        }
        let from_address = open.by_address.entry(address).or_default();
        if *from_address >= self.per_address {
            return Err(CapReached::PerAddress);
        }
        *from_address += 1;
        open.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            address,
        })
    }

    /// Connections open now (the listener's gauge counts them for operators).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_refuses_and_a_closed_connection_frees_its_place() {
        let slots = ConnectionSlots::new(3, 2);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let c: IpAddr = [192, 0, 2, 3].into();
        let a1 = slots.take(a).expect("first from a");
        let _a2 = slots.take(a).expect("second from a");
        assert!(matches!(slots.take(a), Err(CapReached::PerAddress)));
        let _b1 = slots.take(b).expect("first from b");
        assert!(matches!(slots.take(c), Err(CapReached::Total)));
        assert_eq!(slots.open(), 3);
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _c1 = slots.take(c).expect("a place was freed");
        assert!(matches!(slots.take(a), Err(CapReached::Total)));
    }
}
