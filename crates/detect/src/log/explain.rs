//! What one firewall log record means, in plain words.
