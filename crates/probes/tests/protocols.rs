//! One test per protocol: a reply written by hand from the protocol's specification (or as
//! the common server sends it), and the exact ServiceMatch expected.

mod common;

use common::*;
use monban_probes::Protocol;

// ---------------------------------------------------------------- SSH

#[test]
fn ssh_openssh_debian() {
    assert_eq!(
        id("NULL", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        M::hard("ssh")
            .product("OpenSSH")
            .version("9.2p1")
            .info("Debian 2+deb12u3; protocol 2.0")
            .os("Linux")
            .cpe("cpe:/a:openbsd:openssh:9.2p1")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

#[test]
fn ssh_openssh_ubuntu_with_kexinit_after_banner() {
    let mut reply = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n".to_vec();
    reply.extend_from_slice(b"\x00\x00\x05\xdc\x07\x14\xa1\xb2"); // start of KEXINIT
    assert_eq!(
        id("NULL", &reply),
        M::hard("ssh")
            .product("OpenSSH")
            .version("8.9p1")
            .info("Ubuntu 3ubuntu0.10; protocol 2.0")
            .os("Linux")
            .cpe("cpe:/a:openbsd:openssh:8.9p1")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

#[test]
fn ssh_openssh_plain_and_dropbear_and_unknown() {
    assert_eq!(
        id("NULL", b"SSH-2.0-OpenSSH_9.8\r\n"),
        M::hard("ssh")
            .product("OpenSSH")
            .version("9.8")
            .info("protocol 2.0")
            .cpe("cpe:/a:openbsd:openssh:9.8")
            .done()
    );
    assert_eq!(
        id("NULL", b"SSH-2.0-dropbear_2022.83\r\n"),
        M::hard("ssh")
            .product("Dropbear sshd")
            .version("2022.83")
            .info("protocol 2.0")
            .cpe("cpe:/a:matt_johnston:dropbear_ssh_server:2022.83")
            .done()
    );
    assert_eq!(
        id("NULL", b"SSH-1.99-Foo_1.0\r\n"),
        M::soft("ssh").info("Foo_1.0; protocol 1.99").done()
    );
}

// ---------------------------------------------------------------- FTP

#[test]
fn ftp_vsftpd() {
    assert_eq!(
        id("NULL", b"220 (vsFTPd 3.0.3)\r\n"),
        M::hard("ftp")
            .product("vsftpd")
            .version("3.0.3")
            .cpe("cpe:/a:beasts:vsftpd:3.0.3")
            .done()
    );
}

/// vsftpd 3.0.3 (Debian 12) whose secure_chroot_dir is missing: it greets with its error
/// and closes. Captured from the lab's daemon.
#[test]
fn ftp_vsftpd_500_oops() {
    assert_eq!(
        id(
            "NULL",
            b"500 OOPS: vsftpd: not found: directory given in 'secure_chroot_dir':/nonexistent/monban\r\n"
        ),
        M::hard("ftp")
            .product("vsftpd")
            .info("error: vsftpd: not found: directory given in 'secure_chroot_dir':/nonexistent/monban")
            .cpe("cpe:/a:beasts:vsftpd")
            .done()
    );
}

#[test]
fn ftp_proftpd_and_unknown() {
    assert_eq!(
        id(
            "NULL",
            b"220 ProFTPD Server (Debian) [::ffff:10.77.0.2]\r\n"
        ),
        M::hard("ftp")
            .product("ProFTPD")
            .info("Debian")
            .cpe("cpe:/a:proftpd:proftpd")
            .done()
    );
    assert_eq!(
        id("NULL", b"220 Welcome to the example FTP archive\r\n"),
        M::soft("ftp").done()
    );
}

// ---------------------------------------------------------------- Telnet

#[test]
fn telnet_netkit_busybox_and_generic() {
    assert_eq!(
        id("NULL", b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"),
        M::hard("telnet")
            .product("Linux telnetd")
            .os("Linux")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    assert_eq!(
        id("NULL", b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03"),
        M::hard("telnet")
            .product("BusyBox telnetd")
            .os("Linux")
            .cpe("cpe:/a:busybox:busybox")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    assert_eq!(
        id("NULL", b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18"),
        M::soft("telnet").done()
    );
    assert_eq!(
        id(
            "NULL",
            b"\xff\xfb\x01\xff\xfb\x03\r\n\r\nUser Access Verification\r\n\r\nUsername: "
        ),
        M::hard("telnet")
            .product("Cisco router telnetd")
            .os("IOS")
            .cpe("cpe:/o:cisco:ios")
            .done()
    );
}

// ---------------------------------------------------------------- SMTP

#[test]
fn smtp_postfix_debian() {
    assert_eq!(
        id(
            "NULL",
            b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
        ),
        M::hard("smtp")
            .product("Postfix smtpd")
            .info("Debian/GNU")
            .host("mail.example.org")
            .os("Linux")
            .cpe("cpe:/a:postfix:postfix")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

/// Postfix 3.7.11 (Debian 12) with smtpd_banner = "$myhostname ESMTP $mail_name
/// $mail_version (Debian/GNU)": captured from the lab's daemon.
#[test]
fn smtp_postfix_banner_with_version() {
    assert_eq!(
        id(
            "NULL",
            b"220 mail.lab.monban ESMTP Postfix 3.7.11 (Debian/GNU)\r\n"
        ),
        M::hard("smtp")
            .product("Postfix smtpd")
            .version("3.7.11")
            .info("Debian/GNU")
            .host("mail.lab.monban")
            .os("Linux")
            .cpe("cpe:/a:postfix:postfix:3.7.11")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    assert_eq!(
        id("NULL", b"220 mx.example.org ESMTP Postfix 3.9.1\r\n"),
        M::hard("smtp")
            .product("Postfix smtpd")
            .version("3.9.1")
            .host("mx.example.org")
            .cpe("cpe:/a:postfix:postfix:3.9.1")
            .done()
    );
}

#[test]
fn smtp_exim_and_unknown() {
    assert_eq!(
        id(
            "NULL",
            b"220 mx.example.net ESMTP Exim 4.96 Thu, 05 Sep 2024 10:00:00 +0000\r\n"
        ),
        M::hard("smtp")
            .product("Exim smtpd")
            .version("4.96")
            .host("mx.example.net")
            .cpe("cpe:/a:exim:exim:4.96")
            .done()
    );
    assert_eq!(
        id("NULL", b"220 relay.example.com ESMTP ready\r\n"),
        M::soft("smtp").host("relay.example.com").done()
    );
    // An SMTP banner on port 80 still says SMTP: every TCP probe falls back to NULL's rules.
    assert_eq!(
        id(
            "GetRequest",
            b"220 mx.example.net ESMTP Exim 4.96 Thu, 05 Sep 2024 10:00:00 +0000\r\n\
              500 unrecognized command\r\n"
        )
        .map(|m| m.product),
        Some(Some("Exim smtpd".to_string()))
    );
}

// ---------------------------------------------------------------- DNS

#[test]
fn dns_udp_dnsmasq() {
    assert_eq!(
        id("DNSVersionBind", &dns_version_reply("dnsmasq-2.89")),
        M::hard("domain")
            .product("dnsmasq")
            .version("2.89")
            .cpe("cpe:/a:thekelleys:dnsmasq:2.89")
            .done()
    );
}

#[test]
fn dns_tcp_bind_debian() {
    let msg = dns_version_reply("9.18.28-1~deb12u2-Debian");
    let mut tcp = (msg.len() as u16).to_be_bytes().to_vec();
    tcp.extend_from_slice(&msg);
    let want = M::hard("domain")
        .product("ISC BIND")
        .version("9.18.28")
        .info("Debian 1~deb12u2")
        .os("Linux")
        .cpe("cpe:/a:isc:bind:9.18.28")
        .cpe("cpe:/o:linux:linux_kernel")
        .done();
    assert_eq!(id("DNSVersionBindTCP", &tcp), want);
    assert_eq!(id("DNSVersionBind", &msg), want);
}

#[test]
fn dns_refused_and_unknown_text() {
    // REFUSED (rcode 5), no answer.
    let refused =
        b"mb\x81\x05\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03";
    assert_eq!(id("DNSVersionBind", refused), M::soft("domain").done());
    assert_eq!(
        id(
            "DNSVersionBind",
            &dns_version_reply("none of your business")
        ),
        M::hard("domain")
            .info("version.bind: none of your business")
            .done()
    );
    // A reply to another query ID is not ours.
    let mut other = dns_version_reply("dnsmasq-2.89");
    other[1] = 7;
    assert_eq!(id("DNSVersionBind", &other), None);
}

// ---------------------------------------------------------------- Finger, Ident

#[test]
fn finger_bsd() {
    let want = M::hard("finger")
        .product("BSD fingerd")
        .cpe("cpe:/a:bsd:finger")
        .done();
    assert_eq!(id("Finger", b"No one logged on.\r\n"), want);
    assert_eq!(
        id(
            "Finger",
            b"Login     Name       Tty      Idle  Login Time   Office     Office Phone\r\n\
              alice     Alice      pts/0       2  Sep  5 10:00 (10.0.0.9)\r\n"
        ),
        want
    );
}

#[test]
fn ident_error_reply() {
    assert_eq!(
        id("Ident", b"0 , 0 : ERROR : INVALID-PORT\r\n"),
        M::hard("auth").info("ident error INVALID-PORT").done()
    );
}

// ---------------------------------------------------------------- HTTP

#[test]
fn http_apache_debian_with_title() {
    let reply = b"HTTP/1.1 200 OK\r\n\
        Date: Thu, 05 Sep 2024 10:00:00 GMT\r\n\
        Server: Apache/2.4.62 (Debian)\r\n\
        Last-Modified: Mon, 02 Sep 2024 08:00:00 GMT\r\n\
        Content-Type: text/html\r\n\
        \r\n\
        <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\">\n\
        <html xmlns=\"http://www.w3.org/1999/xhtml\">\n  <head>\n\
        <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
        <title>Apache2 Debian Default Page: It works</title>\n";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("http")
            .product("Apache httpd")
            .version("2.4.62")
            .info("Debian; title: Apache2 Debian Default Page: It works")
            .os("Linux")
            .cpe("cpe:/a:apache:http_server:2.4.62")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

#[test]
fn http_nginx_lowercase_header_and_multiline_title() {
    let reply = b"HTTP/1.1 200 OK\r\n\
        server: nginx/1.22.1\r\n\
        Content-Type: text/html\r\n\
        \r\n\
        <html>\n<head>\n<TITLE lang=\"en\">\n  Welcome to\n  nginx!\n</TITLE>\n";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("http")
            .product("nginx")
            .version("1.22.1")
            .info("title: Welcome to nginx!")
            .cpe("cpe:/a:nginx:nginx:1.22.1")
            .done()
    );
}

#[test]
fn http_nginx_without_title() {
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n"
        ),
        M::hard("http")
            .product("nginx")
            .version("1.22.1")
            .cpe("cpe:/a:nginx:nginx:1.22.1")
            .done()
    );
}

#[test]
fn http_frameworks_and_generic_server() {
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.1 200 OK\r\nServer: Werkzeug/2.2.2 Python/3.11.2\r\n\r\n<title>Flask app</title>"
        ),
        M::hard("http")
            .product("Werkzeug httpd")
            .version("2.2.2")
            .info("Python 3.11.2; title: Flask app")
            .cpe("cpe:/a:palletsprojects:werkzeug:2.2.2")
            .done()
    );
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.0 200 OK\r\nServer: FooServe/0.9 (Linux; arm)\r\n\r\n"
        ),
        M::hard("http")
            .product("FooServe")
            .version("0.9")
            .info("(Linux; arm)")
            .done()
    );
}

#[test]
fn http_soft_for_any_status_line() {
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        ),
        M::soft("http").done()
    );
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n<html><title>My  Router</title>"
        ),
        M::soft("http").info("title: My Router").done()
    );
}

#[test]
fn https_port_answering_plain_http() {
    let reply = b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n\
        <html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("https")
            .product("nginx")
            .version("1.22.1")
            .info("TLS port; plain HTTP refused")
            .cpe("cpe:/a:nginx:nginx:1.22.1")
            .done()
    );
    // TLS alert record: handshake failure.
    assert_eq!(
        id("GetRequest", b"\x15\x03\x01\x00\x02\x02\x28"),
        M::soft("ssl").done()
    );
}

#[test]
fn http_proxy_squid() {
    let reply = b"HTTP/1.1 400 Bad Request\r\n\
        Server: squid/5.7\r\n\
        Mime-Version: 1.0\r\n\
        Content-Type: text/html;charset=utf-8\r\n\
        X-Squid-Error: ERR_INVALID_URL 0\r\n\
        \r\n";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("http-proxy")
            .product("Squid http proxy")
            .version("5.7")
            .cpe("cpe:/a:squid-cache:squid:5.7")
            .done()
    );
}

#[test]
fn docker_api() {
    assert_eq!(
        id(
            "GetRequest",
            b"HTTP/1.0 404 Not Found\r\nApi-Version: 1.43\r\nContent-Type: application/json\r\n\
              Server: Docker/24.0.7 (linux)\r\n\r\n{\"message\":\"page not found\"}\n"
        ),
        M::hard("docker")
            .product("Docker Engine API")
            .version("24.0.7")
            .os("linux")
            .cpe("cpe:/a:docker:docker:24.0.7")
            .done()
    );
}

// ---------------------------------------------------------------- Elasticsearch

#[test]
fn elasticsearch_root_document() {
    let reply = b"HTTP/1.1 200 OK\r\n\
        X-elastic-product: Elasticsearch\r\n\
        content-type: application/json\r\n\
        content-length: 540\r\n\
        \r\n\
        {\n  \"name\" : \"node-1\",\n  \"cluster_name\" : \"lab-cluster\",\n\
        \"cluster_uuid\" : \"Vr6cZ2wDQbO5p1qf0mKzYw\",\n  \"version\" : {\n\
        \"number\" : \"8.15.0\",\n    \"build_flavor\" : \"default\",\n\
        \"lucene_version\" : \"9.11.1\"\n  },\n  \"tagline\" : \"You Know, for Search\"\n}\n";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("elasticsearch")
            .product("Elasticsearch REST API")
            .version("8.15.0")
            .info("cluster lab-cluster")
            .cpe("cpe:/a:elastic:elasticsearch:8.15.0")
            .done()
    );
}

#[test]
fn elasticsearch_needs_authentication() {
    let reply = b"HTTP/1.1 401 Unauthorized\r\n\
        WWW-Authenticate: Basic realm=\"security\", charset=\"UTF-8\"\r\n\
        content-type: application/json\r\n\r\n\
        {\"error\":{\"root_cause\":[{\"type\":\"security_exception\",\
        \"reason\":\"missing authentication credentials for REST request [/]\"}]},\"status\":401}";
    assert_eq!(
        id("GetRequest", reply),
        M::hard("elasticsearch")
            .product("Elasticsearch REST API")
            .info("authentication required")
            .cpe("cpe:/a:elastic:elasticsearch")
            .done()
    );
}

// ---------------------------------------------------------------- POP3, IMAP

#[test]
fn pop3_dovecot_debian() {
    assert_eq!(
        id("NULL", b"+OK Dovecot (Debian) ready.\r\n"),
        M::hard("pop3")
            .product("Dovecot pop3d")
            .info("Debian")
            .os("Linux")
            .cpe("cpe:/a:dovecot:dovecot")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    assert_eq!(
        id(
            "NULL",
            b"+OK POP3 server ready <1896.697170952@example.org>\r\n"
        ),
        M::soft("pop3").done()
    );
}

#[test]
fn imap_dovecot_debian() {
    assert_eq!(
        id(
            "NULL",
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
              STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
        ),
        M::soft("imap")
            .product("Dovecot imapd")
            .info("Debian")
            .os("Linux")
            .cpe("cpe:/a:dovecot:dovecot")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    assert_eq!(
        id("NULL", b"* OK IMAP4rev1 server ready\r\n"),
        M::soft("imap").done()
    );
}

/// Dovecot 2.3.19.1 (Debian 12) while its auth process starts, then its answer to IMAP ID
/// with `imap_id_send = "name" * "version" *`: captured from the lab's daemon.
#[test]
fn imap_dovecot_id_with_version() {
    let reply = b"* OK Waiting for authentication process to respond..\r\n\
                  * OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
                  AUTH=PLAIN] Dovecot (Debian) ready.\r\n\
                  * ID (\"name\" \"Dovecot\" \"version\" \"2.3.19.1\")\r\n\
                  a1 OK ID completed.\r\n";
    assert_eq!(
        id("IMAPID", reply),
        M::hard("imap")
            .product("Dovecot imapd")
            .version("2.3.19.1")
            .info("Debian")
            .os("Linux")
            .cpe("cpe:/a:dovecot:dovecot:2.3.19.1")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

/// Dovecot with its default imap_id_send (the name only): hard, without a version.
/// Captured from the lab's daemon.
#[test]
fn imap_dovecot_id_name_only_and_other_servers() {
    let reply = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
                  AUTH=PLAIN] Dovecot (Debian) ready.\r\n\
                  * ID (\"name\" \"Dovecot\")\r\n\
                  a1 OK ID completed.\r\n";
    assert_eq!(
        id("IMAPID", reply),
        M::hard("imap")
            .product("Dovecot imapd")
            .info("Debian")
            .os("Linux")
            .cpe("cpe:/a:dovecot:dovecot")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
    // Another server that names itself (RFC 2971's own example).
    let reply = b"* OK IMAP4rev1 server ready\r\n\
                  * ID (\"name\" \"Cyrus\" \"version\" \"1.5\" \"os\" \"sunos\")\r\n\
                  a1 OK ID completed\r\n";
    assert_eq!(
        id("IMAPID", reply),
        M::hard("imap").product("Cyrus").version("1.5").done()
    );
    // A server without ID: the greeting decides, through the null probe's rules.
    assert_eq!(
        id(
            "IMAPID",
            b"* OK IMAP4rev1 server ready\r\na1 BAD Unknown command\r\n"
        ),
        M::soft("imap").done()
    );
}

// ---------------------------------------------------------------- SNMP

#[test]
fn snmp_net_snmp_linux() {
    let descr = "Linux target1 6.1.0-25-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.106-3 \
                 (2024-08-26) x86_64";
    let reply = snmp_response(b"\x2b\x06\x01\x04\x01\xbf\x08\x03\x02\x0a", descr);
    assert_eq!(reply[1], 0x81, "long-form BER length exercised");
    assert_eq!(
        id("SNMPv1GetRequest", &reply),
        M::hard("snmp")
            .product("net-snmp")
            .info(descr)
            .host("target1")
            .os("Linux")
            .cpe("cpe:/a:net-snmp:net-snmp")
            .cpe("cpe:/o:linux:linux_kernel:6.1")
            .done()
    );
}

#[test]
fn snmp_windows_and_unknown_agent() {
    let descr = "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - \
                 Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)";
    // Windows' sysObjectID: 1.3.6.1.4.1.311.1.1.3.1.2
    let reply = snmp_response(b"\x2b\x06\x01\x04\x01\x82\x37\x01\x01\x03\x01\x02", descr);
    assert_eq!(
        id("SNMPv1GetRequest", &reply),
        M::hard("snmp")
            .product("Microsoft Windows SNMP service")
            .info(descr)
            .os("Windows")
            .cpe("cpe:/o:microsoft:windows")
            .done()
    );
    let reply = snmp_response(b"\x2b\x06\x01\x04\x01\x81\x9b\x16\x01", "ACME switch 12");
    assert_eq!(
        id("SNMPv1GetRequest", &reply),
        M::hard("snmp").info("ACME switch 12").done()
    );
}

// ---------------------------------------------------------------- LDAP

#[test]
fn ldap_bind_then_root_dse() {
    assert_eq!(
        id(
            "LDAPBind",
            b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"
        ),
        M::soft("ldap").info("anonymous bind allowed").done()
    );
    // inappropriateAuthentication (48)
    assert_eq!(
        id(
            "LDAPBind",
            b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x30\x04\x00\x04\x00"
        ),
        M::soft("ldap").done()
    );
    let attr = |name: &str, value: &str| {
        tlv(
            0x30,
            &cat(&[
                &tlv(0x04, name.as_bytes()),
                &tlv(0x31, &tlv(0x04, value.as_bytes())),
            ]),
        )
    };
    let entry = tlv(
        0x64,
        &cat(&[
            &tlv(0x04, b""),
            &tlv(
                0x30,
                &cat(&[
                    &attr("objectClass", "top"),
                    &attr("structuralObjectClass", "OpenLDAProotDSE"),
                    &attr("namingContexts", "dc=example,dc=org"),
                ]),
            ),
        ]),
    );
    let reply = tlv(0x30, &cat(&[&tlv(0x02, &[2]), &entry]));
    assert!(!db().probe("LDAPBind").unwrap().has_rules_for("ldap"));
    assert!(db().probe("LDAPRootDSE").unwrap().has_rules_for("ldap"));
    assert_eq!(
        id("LDAPRootDSE", &reply),
        M::hard("ldap")
            .product("OpenLDAP")
            .cpe("cpe:/a:openldap:openldap")
            .done()
    );
}

// ---------------------------------------------------------------- SMB

#[test]
fn smb_negotiate_responses() {
    assert_eq!(
        id("SMBNegotiate", &smb2_negotiate_response(0x02ff)),
        M::hard("microsoft-ds").info("SMB 2 or later").done()
    );
    assert_eq!(
        id("SMBNegotiate", &smb2_negotiate_response(0x0202)),
        M::hard("microsoft-ds").info("SMB 2.0.2").done()
    );
    // SMB1 NEGOTIATE response choosing dialect 0 ("NT LM 0.12").
    let mut smb1 = b"\xffSMB\x72\x00\x00\x00\x00\x98\x01\xc0".to_vec();
    smb1.extend_from_slice(&[0; 20]);
    smb1.extend_from_slice(b"\x11\x00\x00\x03\x32\x00\x01\x00");
    let mut reply = vec![0, 0, 0, smb1.len() as u8];
    reply.extend_from_slice(&smb1);
    assert_eq!(
        id("SMBNegotiate", &reply),
        M::hard("microsoft-ds")
            .info("SMB1 only (NT LM 0.12)")
            .done()
    );
}

// ---------------------------------------------------------------- SOCKS

#[test]
fn socks5_and_socks4() {
    assert_eq!(
        id("Socks5", b"\x05\x00"),
        M::hard("socks")
            .info("SOCKS5; no authentication required")
            .done()
    );
    assert_eq!(
        id("Socks5", b"\x05\x02"),
        M::hard("socks")
            .info("SOCKS5; username/password required")
            .done()
    );
    assert_eq!(
        id("Socks4", b"\x00\x5b\x00\x00\x00\x00\x00\x00"),
        M::hard("socks").info("SOCKS4; request rejected").done()
    );
    assert_eq!(id("Socks4", b"\x00\x5b\x00\x00\x00\x00\x00\x00\x00"), None);
}

// ---------------------------------------------------------------- MySQL / MariaDB

#[test]
fn mariadb_debian_handshake() {
    assert_eq!(
        id("NULL", &mysql_handshake("5.5.5-10.11.6-MariaDB-0+deb12u1")),
        M::hard("mysql")
            .product("MariaDB")
            .version("10.11.6")
            .info("Debian 0+deb12u1")
            .os("Linux")
            .cpe("cpe:/a:mariadb:mariadb:10.11.6")
            .cpe("cpe:/o:linux:linux_kernel")
            .done()
    );
}

#[test]
fn mysql_handshake_and_refusal() {
    assert_eq!(
        id("NULL", &mysql_handshake("8.0.36-0ubuntu0.22.04.1")),
        M::hard("mysql")
            .product("MySQL")
            .version("8.0.36")
            .info("0ubuntu0.22.04.1")
            .cpe("cpe:/a:mysql:mysql:8.0.36")
            .done()
    );
    let msg = b"\xff\x6a\x04Host '10.77.0.1' is not allowed to connect to this MariaDB server";
    let mut reply = vec![msg.len() as u8, 0, 0, 0];
    reply.extend_from_slice(msg);
    assert_eq!(
        id("NULL", &reply),
        M::hard("mysql")
            .product("MariaDB")
            .info("this host is not allowed to connect")
            .done()
    );
}

// ---------------------------------------------------------------- PostgreSQL

#[test]
fn postgresql_error_names_protocol_range() {
    let reply = pg_error(&[
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "0A000"),
        (
            b'M',
            "unsupported frontend protocol 4.0: server supports 3.0 to 3.0",
        ),
        (b'F', "postmaster.c"),
        (b'L', "2188"),
        (b'R', "ProcessStartupPacket"),
    ]);
    assert_eq!(
        id("PgStartup", &reply),
        M::hard("postgresql")
            .product("PostgreSQL DB")
            .info("protocol 3.0 only (PostgreSQL 14 to 17)")
            .cpe("cpe:/a:postgresql:postgresql")
            .done()
    );
    let old = pg_error(&[
        (b'S', "FATAL"),
        (b'C', "0A000"),
        (
            b'M',
            "unsupported frontend protocol 4.0: server supports 2.0 to 3.0",
        ),
    ]);
    assert_eq!(
        id("PgStartup", &old).and_then(|m| m.info),
        Some("protocol 2.0-3.0 (PostgreSQL 13 or earlier)".into())
    );
}

#[test]
fn postgresql_ssl_request_answer() {
    assert_eq!(
        id("PgSSLRequest", b"N"),
        M::soft("postgresql").info("no TLS").done()
    );
    assert_eq!(
        id("PgSSLRequest", b"S"),
        M::soft("postgresql").info("TLS available").done()
    );
    assert_eq!(id("PgSSLRequest", b"NO"), None);
}

// ---------------------------------------------------------------- Redis

#[test]
fn redis_info_server() {
    let body = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\
                redis_git_dirty:0\r\nredis_build_id:c2f7e6a4d3b1a0f9\r\nredis_mode:standalone\r\n\
                os:Linux 6.1.0-25-amd64 x86_64\r\narch_bits:64\r\ntcp_port:6379\r\n";
    let reply = format!("${}\r\n{}\r\n", body.len(), body);
    assert_eq!(
        id("RedisInfo", reply.as_bytes()),
        M::hard("redis")
            .product("Redis key-value store")
            .version("7.0.15")
            .os("Linux")
            .cpe("cpe:/a:redislabs:redis:7.0.15")
            .done()
    );
}

#[test]
fn redis_noauth_and_http_get() {
    let noauth = M::hard("redis")
        .product("Redis key-value store")
        .info("authentication required")
        .cpe("cpe:/a:redislabs:redis")
        .done();
    assert_eq!(
        id("RedisInfo", b"-NOAUTH Authentication required.\r\n"),
        noauth
    );
    // GetRequest falls back to RedisInfo's rules.
    assert_eq!(
        id("GetRequest", b"-NOAUTH Authentication required.\r\n"),
        noauth
    );
    assert_eq!(
        id(
            "GetRequest",
            b"-ERR wrong number of arguments for 'get' command\r\n"
        ),
        M::soft("redis").product("Redis key-value store").done()
    );
}

// ---------------------------------------------------------------- Memcached

#[test]
fn memcached_version() {
    assert_eq!(
        id("MemcachedVersion", b"VERSION 1.6.18\r\n"),
        M::hard("memcache")
            .product("memcached")
            .version("1.6.18")
            .cpe("cpe:/a:memcached:memcached:1.6.18")
            .done()
    );
    assert_eq!(
        id(
            "MemcachedVersionUDP",
            b"mb\x00\x00\x00\x01\x00\x00VERSION 1.6.18\r\n"
        ),
        M::hard("memcache")
            .product("memcached")
            .version("1.6.18")
            .info("UDP enabled")
            .cpe("cpe:/a:memcached:memcached:1.6.18")
            .done()
    );
}

/// memcached 1.6.18 (Debian 12) answers commands it does not know with "ERROR" (captured
/// for Finger's empty line and Ident's query); any TCP probe's reply falls back to it.
#[test]
fn memcached_error_is_a_soft_match() {
    for probe in ["Finger", "Ident", "RedisInfo", "NULL"] {
        assert_eq!(
            id(probe, b"ERROR\r\n"),
            M::soft("memcache").done(),
            "{probe}"
        );
    }
    // The soft match leads to the probe with hard memcache rules.
    assert!(db()
        .probe("MemcachedVersion")
        .unwrap()
        .has_rules_for("memcache"));
}

// ---------------------------------------------------------------- MongoDB

#[test]
fn mongodb_buildinfo() {
    let doc = bson(&[
        bson_str("version", "7.0.12"),
        bson_str("gitVersion", "b6e8b5c3b0b6f1a9d1b2c3d4e5f60718293a4b5c"),
        bson_i32("bits", 64),
        bson_f64("ok", 1.0),
    ]);
    assert_eq!(
        id("MongoBuildInfo", &op_msg_reply(&doc)),
        M::hard("mongodb")
            .product("MongoDB")
            .version("7.0.12")
            .cpe("cpe:/a:mongodb:mongodb:7.0.12")
            .done()
    );
    let refused = bson(&[
        bson_f64("ok", 0.0),
        bson_str("errmsg", "command buildInfo requires authentication"),
        bson_i32("code", 13),
    ]);
    assert_eq!(
        id("MongoBuildInfo", &op_msg_reply(&refused)),
        M::soft("mongodb")
            .product("MongoDB")
            .info("command buildInfo requires authentication")
            .done()
    );
}

#[test]
fn mongodb_is_master_wire_version() {
    let doc = |wire: i32| {
        bson(&[
            vec![0x08, b'i', b's', b'm', b'a', b's', b't', b'e', b'r', 0, 1],
            bson_i32("maxBsonObjectSize", 16 * 1024 * 1024),
            bson_i32("minWireVersion", 0),
            bson_i32("maxWireVersion", wire),
            bson_f64("ok", 1.0),
        ])
    };
    assert_eq!(
        id("MongoIsMaster", &op_msg_reply(&doc(21))),
        M::hard("mongodb")
            .product("MongoDB")
            .version("7.0")
            .info("wire version 21")
            .cpe("cpe:/a:mongodb:mongodb:7.0")
            .done()
    );
    assert_eq!(
        id("MongoIsMaster", &op_msg_reply(&doc(300))),
        M::hard("mongodb")
            .product("MongoDB")
            .info("wire version 300")
            .cpe("cpe:/a:mongodb:mongodb")
            .done()
    );
}

// ---------------------------------------------------------------- RDP, VNC

#[test]
fn rdp_connection_confirm() {
    assert_eq!(
        id(
            "RDPConnectionRequest",
            b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00"
        ),
        M::hard("ms-wbt-server")
            .info("security: CredSSP (NLA)")
            .done()
    );
    assert_eq!(
        id(
            "RDPConnectionRequest",
            b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x03\x00\x08\x00\x05\x00\x00\x00"
        ),
        M::hard("ms-wbt-server")
            .info("server requires CredSSP (NLA)")
            .done()
    );
}

#[test]
fn vnc_rfb_versions() {
    assert_eq!(
        id("NULL", b"RFB 003.008\n"),
        M::hard("rfb").info("protocol 3.8").done()
    );
    assert_eq!(
        id("NULL", b"RFB 003.889\n"),
        M::hard("rfb")
            .product("Apple remote desktop vnc")
            .info("protocol 3.889")
            .os("macOS")
            .cpe("cpe:/o:apple:mac_os_x")
            .done()
    );
    assert_eq!(
        id("NULL", b"RFB 003.006\n"),
        M::hard("rfb").info("protocol 003.006").done()
    );
}

// ---------------------------------------------------------------- NTP

fn ntp_reply(byte0: u8, stratum: u8, refid: &[u8; 4], origin: &[u8; 8]) -> Vec<u8> {
    cat(&[
        &[byte0, stratum, 3, 0xe9],
        &[0, 0, 0x01, 0x20, 0, 0, 0x02, 0x40], // root delay, root dispersion
        refid,
        b"\xea\x8c\x10\x20\x11\x22\x33\x44", // reference time
        origin,
        b"\xea\x8c\x10\x21\x55\x66\x77\x88", // receive time
        b"\xea\x8c\x10\x21\x55\x66\x99\x00", // transmit time
    ])
}

#[test]
fn ntp_server_reply() {
    let cookie = b"\xe0\x00\x00\x00monb";
    assert_eq!(
        id(
            "NTPRequest",
            &ntp_reply(0x24, 2, b"\xc0\x00\x02\x01", cookie)
        ),
        M::hard("ntp").info("stratum 2").done()
    );
    assert_eq!(
        id("NTPRequest", &ntp_reply(0x1c, 1, b"GPS\0", cookie)),
        M::hard("ntp").info("stratum 1; reference GPS").done()
    );
    assert_eq!(
        id("NTPRequest", &ntp_reply(0xe4, 0, b"RATE", cookie)),
        M::hard("ntp").info("unsynchronized; kiss code RATE").done()
    );
    // Mode 4, but not an answer to our request.
    assert_eq!(
        id(
            "NTPRequest",
            &ntp_reply(0x24, 2, b"\xc0\x00\x02\x01", b"12345678")
        ),
        M::soft("ntp").done()
    );
    // Mode 3 (a client request echoed back) is not a server.
    assert_eq!(
        id(
            "NTPRequest",
            &ntp_reply(0x23, 2, b"\xc0\x00\x02\x01", cookie)
        ),
        None
    );
}

// ---------------------------------------------------------------- AMQP, MQTT

#[test]
fn amqp_rabbitmq_connection_start() {
    let reply = amqp_connection_start(&[
        cat(&[b"\x0ccapabilitiesF", &[0, 0, 0, 0]]),
        amqp_str("cluster_name", "rabbit@lab-target"),
        amqp_str(
            "copyright",
            "Copyright (c) 2007-2022 VMware, Inc. or its affiliates.",
        ),
        amqp_str("information", "Licensed under the MPL 2.0."),
        amqp_str("platform", "Erlang/OTP 25.2.3"),
        amqp_str("product", "RabbitMQ"),
        amqp_str("version", "3.10.8"),
    ]);
    assert_eq!(
        id("AMQPHeader", &reply),
        M::hard("amqp")
            .product("RabbitMQ")
            .version("3.10.8")
            .info("AMQP 0-9-1; Erlang/OTP 25.2.3")
            .cpe("cpe:/a:vmware:rabbitmq:3.10.8")
            .done()
    );
    assert_eq!(
        id("AMQPHeader", b"AMQP\x00\x01\x00\x00"),
        M::hard("amqp").info("AMQP 1.0").done()
    );
}

#[test]
fn mqtt_connack() {
    assert_eq!(
        id("MQTTConnect", b"\x20\x02\x00\x00"),
        M::hard("mqtt")
            .info("connection accepted without credentials")
            .done()
    );
    assert_eq!(
        id("MQTTConnect", b"\x20\x02\x00\x05"),
        M::hard("mqtt").info("not authorized").done()
    );
}

// ---------------------------------------------------------------- captured from the lab

/// dnsmasq 2.90 (Debian) answering monban's version.bind query (the `dns` payload) over UDP
/// and over TCP, as captured from the daemon.
#[test]
fn dns_dnsmasq_captured_udp_and_tcp() {
    let udp: &[u8] = b"mb\x84\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07version\x04bind\
                       \x00\x00\x10\x00\x03\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\r\
                       \x0cdnsmasq-2.90";
    let want = M::hard("domain")
        .product("dnsmasq")
        .version("2.90")
        .cpe("cpe:/a:thekelleys:dnsmasq:2.90")
        .done();
    assert_eq!(id("DNSVersionBind", udp), want);
    let mut tcp = vec![0x00, 0x37];
    tcp.extend_from_slice(udp);
    assert_eq!(usize::from(tcp[1]), udp.len());
    assert_eq!(id("DNSVersionBindTCP", &tcp), want);
}

/// net-snmp 5.9.3 (Debian 12) answering the v1 GetRequest, as captured from the lab's daemon.
#[test]
fn snmp_net_snmp_captured() {
    let reply: &[u8] = b"0z\x02\x01\x00\x04\x06public\xa2m\x02\x04Monb\x02\x01\x00\x02\x01\x00\
                         0_0\x16\x06\x08+\x06\x01\x02\x01\x01\x02\x00\x06\n+\x06\x01\x04\x01\
                         \xbf\x08\x03\x02\n0E\x06\x08+\x06\x01\x02\x01\x01\x01\x00\x049\
                         Linux vm 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0 x86_64";
    assert_eq!(
        id("SNMPv1GetRequest", reply),
        M::hard("snmp")
            .product("net-snmp")
            .info("Linux vm 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0 x86_64")
            .host("vm")
            .os("Linux")
            .cpe("cpe:/a:net-snmp:net-snmp")
            .cpe("cpe:/o:linux:linux_kernel:6.18")
            .done()
    );
}

/// PostgreSQL 15.18 (Debian 12) refusing protocol 4.0, as captured from the lab's daemon.
#[test]
fn postgresql_15_captured() {
    let reply: &[u8] = b"E\x00\x00\x00\x83SFATAL\x00VFATAL\x00C0A000\x00\
                         Munsupported frontend protocol 4.0: server supports 3.0 to 3.0\x00\
                         Fpostmaster.c\x00L2222\x00RProcessStartupPacket\x00\x00";
    assert_eq!(usize::from(reply[4]), reply.len() - 1);
    assert_eq!(
        id("PgStartup", reply),
        M::hard("postgresql")
            .product("PostgreSQL DB")
            .info("protocol 3.0 only (PostgreSQL 14 to 17)")
            .cpe("cpe:/a:postgresql:postgresql")
            .done()
    );
}

// ---------------------------------------------------------------- probe order and payloads

fn order(port: u16, transport: Protocol, intensity: u8) -> Vec<&'static str> {
    db().probes_for(port, transport, intensity)
        .map(|p| p.name())
        .collect()
}

#[test]
fn probe_order_for_common_ports() {
    assert_eq!(order(22, Protocol::Tcp, 0), ["NULL"]);
    assert_eq!(order(80, Protocol::Tcp, 0), ["GetRequest", "NULL"]);
    assert_eq!(order(3306, Protocol::Tcp, 0), ["NULL"]);
    assert_eq!(order(143, Protocol::Tcp, 0), ["NULL", "IMAPID"]);
    assert_eq!(
        order(5432, Protocol::Tcp, 0),
        ["PgStartup", "PgSSLRequest", "NULL"]
    );
    assert_eq!(
        order(27017, Protocol::Tcp, 0),
        ["MongoBuildInfo", "MongoIsMaster", "NULL"]
    );
    assert_eq!(order(161, Protocol::Udp, 0), ["SNMPv1GetRequest"]);
    assert_eq!(
        order(40000, Protocol::Udp, 9),
        [
            "DNSVersionBind",
            "SNMPv1GetRequest",
            "NTPRequest",
            "MemcachedVersionUDP"
        ]
    );
    let all = order(40000, Protocol::Tcp, 9);
    assert_eq!(all.first(), Some(&"NULL"));
    assert_eq!(all.get(1), Some(&"GetRequest"));
    assert_eq!(all.last(), Some(&"PgSSLRequest"));
    assert_eq!(
        all.len(),
        db().probes()
            .iter()
            .filter(|p| p.transport() == Protocol::Tcp)
            .count()
    );
}

#[test]
fn payloads_are_what_the_specs_say() {
    let payload = |name: &str| db().probe(name).unwrap().payload().to_vec();
    // Lengths stated inside the payloads agree with the payloads.
    let dns_tcp = payload("DNSVersionBindTCP");
    assert_eq!(
        usize::from(u16::from_be_bytes([dns_tcp[0], dns_tcp[1]])),
        dns_tcp.len() - 2
    );
    assert_eq!(&dns_tcp[2..], &payload("DNSVersionBind")[..]);
    let snmp = payload("SNMPv1GetRequest");
    assert_eq!(usize::from(snmp[1]), snmp.len() - 2);
    assert_eq!(payload("NTPRequest").len(), 48);
    let smb = payload("SMBNegotiate");
    assert_eq!(usize::from(smb[3]), smb.len() - 4);
    let rdp = payload("RDPConnectionRequest");
    assert_eq!(usize::from(rdp[3]), rdp.len());
    for mongo in ["MongoBuildInfo", "MongoIsMaster"] {
        let m = payload(mongo);
        assert_eq!(
            u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(usize::from(m[21]), m.len() - 21, "BSON document length");
    }
    let ldap = payload("LDAPRootDSE");
    assert_eq!(usize::from(ldap[1]), ldap.len() - 2);
    assert_eq!(usize::from(ldap[6]), ldap.len() - 7);
    let mqtt = payload("MQTTConnect");
    assert_eq!(usize::from(mqtt[1]), mqtt.len() - 2);
    assert_eq!(payload("PgStartup"), b"\x00\x00\x00\x08\x00\x04\x00\x00");
}

/// A request `-sU` sends too is written once: the probe sends the scan payload's bytes,
/// whose echoed ids are ours (`mb`), not another tool's.
#[test]
fn udp_probes_send_the_scan_payloads() {
    let payload = |name: &str| db().probe(name).unwrap().payload().to_vec();
    for (probe, port) in [
        ("DNSVersionBind", 53),
        ("NTPRequest", 123),
        ("MemcachedVersionUDP", 11211),
    ] {
        let sent = monban_data::payloads::udp_payload(port).expect("a scan payload");
        assert_eq!(payload(probe), sent, "{probe}");
    }
    assert_eq!(&payload("DNSVersionBind")[..2], b"mb");
    assert_eq!(&payload("MemcachedVersionUDP")[..2], b"mb");
}

// ---------------------------------------------------------------- probes and risks agree

#[test]
fn services_reported_by_probes_find_their_risk() {
    use monban_probes::{risk_for, RiskLevel};
    let cases: &[(u16, Protocol, &str, &str, RiskLevel)] = &[
        (23, Protocol::Tcp, "telnet", "telnet", RiskLevel::High),
        (
            445,
            Protocol::Tcp,
            "microsoft-ds",
            "microsoft-ds",
            RiskLevel::Critical,
        ),
        (161, Protocol::Udp, "snmp", "snmp", RiskLevel::High),
        (3389, Protocol::Tcp, "ms-wbt-server", "rdp", RiskLevel::High),
        (5901, Protocol::Tcp, "rfb", "vnc", RiskLevel::High),
        (6379, Protocol::Tcp, "redis", "redis", RiskLevel::Critical),
        (
            11211,
            Protocol::Udp,
            "memcache",
            "memcached",
            RiskLevel::High,
        ),
        (27017, Protocol::Tcp, "mongodb", "mongodb", RiskLevel::High),
        (
            9200,
            Protocol::Tcp,
            "elasticsearch",
            "elasticsearch",
            RiskLevel::High,
        ),
        (2375, Protocol::Tcp, "docker", "docker", RiskLevel::Critical),
        (1080, Protocol::Tcp, "socks", "socks", RiskLevel::High),
        (21, Protocol::Tcp, "ftp", "ftp", RiskLevel::Medium),
        (110, Protocol::Tcp, "pop3", "pop3", RiskLevel::Medium),
        (79, Protocol::Tcp, "finger", "finger", RiskLevel::Medium),
    ];
    for &(port, proto, service, risk, level) in cases {
        assert!(
            db().probes().iter().any(|p| p.has_rules_for(service)),
            "no probe reports {service}"
        );
        assert_eq!(
            risk_for(port, proto, Some(service)).map(|r| (r.name, r.level)),
            Some((risk, level)),
            "{service} on {port}/{proto}"
        );
    }
}
