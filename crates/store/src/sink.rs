//! A scan output that stores: `--db` adds it beside the file outputs.

use std::net::IpAddr;

use monban_engine::{HostReport, PortResult};
use monban_output::{OutputError, RunInfo, RunStats, Sink};

use crate::store::{NewScan, ScanId, Store};
use crate::StoreError;

/// Stores each finished host as it comes (so an interrupted scan keeps what it finished).
pub struct StoreSink {
    store: Store,
    scan: NewScan,
    id: Option<ScanId>,
}

impl StoreSink {
    /// A sink storing into `store`; `scan` gives the key, targets, ports and shards (the
    /// rest comes from the run).
    pub fn new(store: Store, scan: NewScan) -> StoreSink {
        StoreSink {
            store,
            scan,
            id: None,
        }
    }

    /// The stored scan's id, once begun.
    pub fn id(&self) -> Option<ScanId> {
        self.id
    }
}

fn io(e: StoreError) -> OutputError {
    OutputError::Io(std::io::Error::other(e))
}

impl Sink for StoreSink {
    fn begin(&mut self, run: &RunInfo) -> Result<(), OutputError> {
        self.scan.args = run.args.clone();
        self.scan.started = run.start;
        self.scan.scan_type = run.scan_type;
        self.scan.version = run.version.to_string();
        self.id = Some(self.store.begin_scan(&self.scan).map_err(io)?);
        Ok(())
    }

    fn port(&mut self, _addr: IpAddr, _result: &PortResult) -> Result<(), OutputError> {
        Ok(())
    }

    fn host(&mut self, host: &HostReport) -> Result<(), OutputError> {
        let id = self.id.ok_or(OutputError::OutOfOrder {
            call: "host",
            problem: "before begin",
        })?;
        self.store.add_host(id, host).map_err(io)
    }

    fn end(&mut self, stats: &RunStats) -> Result<(), OutputError> {
        let id = self.id.ok_or(OutputError::OutOfOrder {
            call: "end",
            problem: "before begin",
        })?;
        self.store.end_scan(id, stats).map_err(io)
    }
}
