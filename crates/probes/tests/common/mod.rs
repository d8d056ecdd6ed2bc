//! Helpers shared by the integration tests: building replies by hand from the protocol specs.

#![allow(dead_code)] // each test binary uses a different subset

use monban_probes::{ProbeDb, ServiceMatch};

/// The embedded database.
pub fn db() -> &'static ProbeDb {
    ProbeDb::builtin().expect("embedded probe database parses")
}

/// Identifies `reply` as an answer to the probe `probe`.
pub fn id(probe: &str, reply: &[u8]) -> Option<ServiceMatch> {
    let db = db();
    let p = db
        .probe(probe)
        .unwrap_or_else(|| panic!("no probe {probe}"));
    db.identify(p, reply)
}

/// A ServiceMatch written out field by field.
pub struct M(pub ServiceMatch);

impl M {
    pub fn hard(service: &str) -> M {
        M(ServiceMatch {
            service: service.into(),
            ..ServiceMatch::default()
        })
    }
    pub fn soft(service: &str) -> M {
        M(ServiceMatch {
            service: service.into(),
            soft: true,
            ..ServiceMatch::default()
        })
    }
    pub fn product(mut self, s: &str) -> M {
        self.0.product = Some(s.into());
        self
    }
    pub fn version(mut self, s: &str) -> M {
        self.0.version = Some(s.into());
        self
    }
    pub fn info(mut self, s: &str) -> M {
        self.0.info = Some(s.into());
        self
    }
    pub fn host(mut self, s: &str) -> M {
        self.0.hostname = Some(s.into());
        self
    }
    pub fn os(mut self, s: &str) -> M {
        self.0.os = Some(s.into());
        self
    }
    pub fn cpe(mut self, s: &str) -> M {
        self.0.cpe.push(s.into());
        self
    }
    pub fn done(self) -> Option<ServiceMatch> {
        Some(self.0)
    }
}

/// BER TLV with a definite length (short form, or long form with 1-2 length bytes).
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// Concatenates byte slices.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A BSON document from already-encoded elements.
pub fn bson(elements: &[Vec<u8>]) -> Vec<u8> {
    let body = elements.concat();
    let len = (body.len() + 5) as u32;
    cat(&[&len.to_le_bytes(), &body, &[0]])
}

/// BSON string element.
pub fn bson_str(name: &str, value: &str) -> Vec<u8> {
    let len = (value.len() + 1) as u32;
    cat(&[
        &[0x02],
        name.as_bytes(),
        &[0],
        &len.to_le_bytes(),
        value.as_bytes(),
        &[0],
    ])
}

/// BSON int32 element.
pub fn bson_i32(name: &str, value: i32) -> Vec<u8> {
    cat(&[&[0x10], name.as_bytes(), &[0], &value.to_le_bytes()])
}

/// BSON double element.
pub fn bson_f64(name: &str, value: f64) -> Vec<u8> {
    cat(&[&[0x01], name.as_bytes(), &[0], &value.to_le_bytes()])
}

/// An OP_MSG reply (opcode 2013) to our request ID "MONB" with one body section.
pub fn op_msg_reply(doc: &[u8]) -> Vec<u8> {
    let len = (16 + 4 + 1 + doc.len()) as u32;
    cat(&[
        &len.to_le_bytes(),
        &7u32.to_le_bytes(), // the server's own request ID
        b"MONB",             // responseTo: our request ID
        &2013u32.to_le_bytes(),
        &0u32.to_le_bytes(), // flagBits
        &[0],                // section kind 0: body
        doc,
    ])
}

/// A DNS answer to our version.bind query (ID 6), over UDP, with one TXT string.
pub fn dns_version_reply(txt: &str) -> Vec<u8> {
    let question = b"\x07version\x04bind\x00\x00\x10\x00\x03";
    let rdata = cat(&[&[txt.len() as u8], txt.as_bytes()]);
    cat(&[
        b"mb\x84\x80\x00\x01\x00\x01\x00\x00\x00\x00", // our id, QR AA, RD clear as asked
        question,
        b"\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00",
        &(rdata.len() as u16).to_be_bytes(),
        &rdata,
    ])
}

/// An SNMPv1 GetResponse to our request ("Monb") with sysObjectID then sysDescr.
pub fn snmp_response(object_id: &[u8], descr: &str) -> Vec<u8> {
    let vb1 = tlv(
        0x30,
        &cat(&[
            &tlv(0x06, b"\x2b\x06\x01\x02\x01\x01\x02\x00"),
            &tlv(0x06, object_id),
        ]),
    );
    let vb2 = tlv(
        0x30,
        &cat(&[
            &tlv(0x06, b"\x2b\x06\x01\x02\x01\x01\x01\x00"),
            &tlv(0x04, descr.as_bytes()),
        ]),
    );
    let pdu = tlv(
        0xa2,
        &cat(&[
            &tlv(0x02, b"Monb"),
            &tlv(0x02, &[0]),
            &tlv(0x02, &[0]),
            &tlv(0x30, &cat(&[&vb1, &vb2])),
        ]),
    );
    tlv(0x30, &cat(&[&tlv(0x02, &[0]), &tlv(0x04, b"public"), &pdu]))
}

/// A MySQL Handshake v10 packet announcing `version`.
pub fn mysql_handshake(version: &str) -> Vec<u8> {
    let payload = cat(&[
        &[0x0a],
        version.as_bytes(),
        &[0],
        &[0x0a, 0x00, 0x00, 0x00], // thread id 10 (0x0a, like a newline byte)
        b"\x3b\x2f\x5e\x00\x7d\x0a\x22\x41", // auth data part 1 (with NUL and LF bytes)
        &[0],
        &[0xfe, 0xf7], // capability flags (low)
        &[0x2d],       // character set
        &[0x02, 0x00], // status
        &[0xff, 0x81], // capability flags (high)
        &[0x15],
        &[0; 10],
        b"\x27\x6a\x3e\x21\x40\x7c\x26\x4b\x5d\x36\x58\x2a\x00",
        b"mysql_native_password\x00",
    ]);
    let len = payload.len() as u32;
    cat(&[&len.to_le_bytes()[..3], &[0], &payload])
}

/// A PostgreSQL ErrorResponse with the given fields (code letter, value).
pub fn pg_error(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (code, value) in fields {
        body.push(*code);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let len = (body.len() + 4) as u32;
    cat(&[b"E", &len.to_be_bytes(), &body])
}

/// An AMQP 0-9-1 long string table entry of type S.
pub fn amqp_str(key: &str, value: &str) -> Vec<u8> {
    cat(&[
        &[key.len() as u8],
        key.as_bytes(),
        b"S",
        &(value.len() as u32).to_be_bytes(),
        value.as_bytes(),
    ])
}

/// An AMQP 0-9-1 Connection.Start frame with the given server-properties entries.
pub fn amqp_connection_start(entries: &[Vec<u8>]) -> Vec<u8> {
    let table = entries.concat();
    let payload = cat(&[
        b"\x00\x0a\x00\x0a\x00\x09",
        &(table.len() as u32).to_be_bytes(),
        &table,
        &14u32.to_be_bytes(),
        b"AMQPLAIN PLAIN",
        &5u32.to_be_bytes(),
        b"en_US",
    ]);
    cat(&[
        b"\x01\x00\x00",
        &(payload.len() as u32).to_be_bytes(),
        &payload,
        &[0xce],
    ])
}

/// An SMB2 NEGOTIATE response in a NetBIOS session message, choosing `dialect`.
pub fn smb2_negotiate_response(dialect: u16) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(b"\xfeSMB");
    header.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    header.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
    header.extend_from_slice(&0u32.to_le_bytes()); // Status: success
    header.extend_from_slice(&0u16.to_le_bytes()); // Command: NEGOTIATE
    header.extend_from_slice(&1u16.to_le_bytes()); // Credits
    header.extend_from_slice(&1u32.to_le_bytes()); // Flags: server to redirector
    header.extend_from_slice(&[0; 4 + 8 + 4 + 4 + 8 + 16]); // next, msg id, ..., signature
    assert_eq!(header.len(), 64);
    let mut body = Vec::new();
    body.extend_from_slice(&65u16.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    body.extend_from_slice(&dialect.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(b"\x10\x32\x54\x76\x98\xba\xdc\xfe\x0a\x00\x0d\x0a\xff\xfe\x00\x01"); // GUID
    body.extend_from_slice(&7u32.to_le_bytes()); // Capabilities
    body.extend_from_slice(&[0x00, 0x00, 0x80, 0x00].repeat(3)); // max sizes
    body.extend_from_slice(&[0; 16]); // SystemTime, ServerStartTime
    body.extend_from_slice(&128u16.to_le_bytes()); // SecurityBufferOffset
    body.extend_from_slice(&0u16.to_le_bytes()); // SecurityBufferLength
    body.extend_from_slice(&0u32.to_le_bytes());
    let smb = cat(&[&header, &body]);
    let len = smb.len() as u32;
    cat(&[&[0], &len.to_be_bytes()[1..], &smb])
}
