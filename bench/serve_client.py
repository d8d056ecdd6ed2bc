"""bench/serve.sh's visitor: does what the page's script does, RUNS times, and times it.

Prints `run FIRST_PROGRESS LAST_ROW` per run (seconds since the POST) and `open PORTS,`
for the last run's open ports."""
import http.client, json, sys, time

HOST = "10.77.0.2"
runs = int(sys.argv[1])


def request(method, path, headers=None, body=None):
    c = http.client.HTTPConnection(HOST, 8080, timeout=120)
    c.request(method, path, body=body, headers=headers or {})
    return c, c.getresponse()


_, r = request("GET", "/")
cookie = r.getheader("Set-Cookie").split(";")[0]
token = cookie.split("=", 1)[1]
r.read()
for _ in range(runs):
    t0 = time.monotonic()
    _, r = request("POST", "/api/scans", {"Cookie": cookie, "X-CSRF-Token": token,
                                         "Content-Type": "application/json"},
                   json.dumps({"profile": "quick"}))
    started = json.loads(r.read())
    if r.status != 202:
        sys.exit(f"POST: {r.status} {started}")
    c, r = request("GET", f"/api/scans/{started['id']}/events")
    first = None
    event = None
    while True:
        line = r.fp.readline()
        if not line:
            break
        line = line.decode().strip()
        if line.startswith("event: "):
            event = line[7:]
            if event == "progress" and first is None:
                first = time.monotonic() - t0
            if event == "done":
                break
    c.close()
    _, r = request("GET", f"/api/scans/{started['id']}")
    scan = json.loads(r.read())
    last = time.monotonic() - t0
    if scan["phase"] != "done" or len(scan["ports"]) != 37:
        sys.exit(f"scan: {scan}")
    print(f"run {first if first is not None else last:.3f} {last:.3f}")
open_ports = sorted(p["port"] for p in scan["ports"] if p["status"] == "OPEN")
print("open " + "".join(f"{p}," for p in open_ports))
