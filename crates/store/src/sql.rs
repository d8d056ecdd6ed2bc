//! The two databases behind one small interface.
//!
//! Every statement is written once, in the SQL both SQLite and PostgreSQL speak, with `$1`,
//! `$2`... placeholders (rewritten to SQLite's `?1`, `?2`). Values are the four kinds both
//! store alike: NULL, 64-bit integers (`BIGINT`), doubles (`DOUBLE PRECISION`) and text;
//! booleans are integers 0/1, times are Unix seconds as doubles. Only the DDL of the
//! identity columns differs ([`Dialect::id_column`]).

use crate::StoreError;

/// One value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// The integer, if it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The double (an integer is widened), if it is a number.
    pub fn real(&self) -> Option<f64> {
        match self {
            Value::Real(r) => Some(*r),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text, if it is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Which SQL the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The DDL of an auto-numbered primary key column named `id`.
    pub fn id_column(self) -> &'static str {
        match self {
            Dialect::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        }
    }
}

/// A connection to either database.
pub trait Db: Send {
    /// Which SQL it speaks.
    fn dialect(&self) -> Dialect;
    /// Runs statements without parameters or results (DDL, `BEGIN`, `COMMIT`).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Runs one statement; the rows it returns (for `SELECT` and `... RETURNING`).
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError>;
}

/// `$1` → `?1` for SQLite.
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// An SQLite file.
pub struct Sqlite(rusqlite::Connection);

impl Sqlite {
    /// Opens (creating) the file; writers wait up to 30 s for each other.
    pub fn open(path: &std::path::Path) -> Result<Sqlite, StoreError> {
        let c = rusqlite::Connection::open(path).map_err(|e| StoreError::Open(e.to_string()))?;
        c.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        // WAL: readers do not block the writer (several scans, or a page reading history
        // while a scan writes).
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        c.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Sqlite(c))
    }
}

impl Db for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0
            .execute_batch(sql)
            .map_err(|e| StoreError::Sql(e.to_string()))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        use rusqlite::types::{ToSqlOutput, Value as V, ValueRef};
        let err = |e: rusqlite::Error| StoreError::Sql(e.to_string());
        let sql = sqlite_placeholders(sql);
        let mut stmt = self.0.prepare_cached(&sql).map_err(err)?;
        let bound: Vec<ToSqlOutput<'_>> = params
            .iter()
            .map(|p| {
                ToSqlOutput::Owned(match p {
                    Value::Null => V::Null,
                    Value::Int(i) => V::Integer(*i),
                    Value::Real(r) => V::Real(*r),
                    Value::Text(t) => V::Text(t.clone()),
                })
            })
            .collect();
        let cols = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bound)).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut r = Vec::with_capacity(cols);
            for i in 0..cols {
                r.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
                });
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// The server's own message, not just "db error".
fn pg_error(e: postgres::Error) -> StoreError {
    StoreError::Sql(match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    })
}

/// A PostgreSQL connection.
pub struct Postgres(postgres::Client);

impl Postgres {
    /// Connects with a `postgres://` URL (or a libpq key=value string); no TLS.
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        postgres::Client::connect(url, postgres::NoTls)
            .map(Postgres)
            .map_err(|e| match pg_error(e) {
                StoreError::Sql(m) => StoreError::Open(m),
                other => other,
            })
    }
}

impl Db for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.batch_execute(sql).map_err(pg_error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        use postgres::types::{ToSql, Type};
        let err = pg_error;
        let stmt = self.0.prepare(sql).map_err(err)?;
        // Each parameter as the type the server inferred for it.
        let mut owned: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(params.len());
        for (p, ty) in params.iter().zip(stmt.params()) {
            owned.push(match (p, ty) {
                (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
                (Value::Null, t) if *t == Type::FLOAT8 => Box::new(None::<f64>),
                (Value::Null, _) => Box::new(None::<String>),
                (Value::Int(i), t) if *t == Type::FLOAT8 => Box::new(*i as f64),
                (Value::Int(i), _) => Box::new(*i),
                (Value::Real(r), _) => Box::new(*r),
                (Value::Text(t), _) => Box::new(t.clone()),
            });
        }
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
        let rows = self.0.query(&stmt, &refs).map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut r = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let t = col.type_();
                r.push(if *t == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i).map_err(err)?.into()
                } else if *t == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(i64::from)
                        .into()
                } else if *t == Type::FLOAT8 {
                    row.try_get::<_, Option<f64>>(i).map_err(err)?.into()
                } else {
                    row.try_get::<_, Option<String>>(i).map_err(err)?.into()
                });
            }
            out.push(r);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            sqlite_placeholders("a = $1 AND b = $12 AND c = '$x'"),
            "a = ?1 AND b = ?12 AND c = '$x'"
        );
    }

    #[test]
    fn sqlite_round_trip() {
        let dir = std::env::temp_dir().join(format!("monban-sql-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut db = Sqlite::open(&dir.join("t.db")).unwrap();
        db.batch("CREATE TABLE t (a BIGINT, b DOUBLE PRECISION, c TEXT)")
            .unwrap();
        db.query(
            "INSERT INTO t VALUES ($1, $2, $3)",
            &[7.into(), 1.5.into(), "x'y".into()],
        )
        .unwrap();
        db.query(
            "INSERT INTO t VALUES ($1, $2, $3)",
            &[Value::Null, Value::Null, Value::Null],
        )
        .unwrap();
        let rows = db
            .query("SELECT a, b, c FROM t ORDER BY a NULLS LAST", &[])
            .unwrap();
        assert_eq!(
            rows[0],
            [Value::Int(7), Value::Real(1.5), Value::Text("x'y".into())]
        );
        assert_eq!(rows[1], [Value::Null, Value::Null, Value::Null]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
