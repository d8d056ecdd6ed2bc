//! Reading firewall log lines into []s.
