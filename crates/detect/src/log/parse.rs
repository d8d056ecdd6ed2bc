//! Reading firewall log lines into [`super::LogRecord`]s.
