"""Relay throughput: sender -> relay -> sink on loopback vs sender -> sink direct; prints the ratio.
import json, os, socket, subprocess, sys, time, multiprocessing as mp

PY = sys.executable

def sink(port_q, size, dur, result_q):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0)); port_q.put(s.getsockname()[1])
    buf = bytearray(65536); total = 0; n = 0; first = None; last = None
    s.settimeout(1.0)
    while True:
        try:
            k = s.recv_into(buf)
        except socket.timeout:
            break
        now = time.perf_counter()
        if first is None: first = now
        last = now; total += k; n += 1
    result_q.put((total, n, (last - first) if first else 0))

def send(port, size, dur):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.connect(("127.0.0.1", port)); data = b"x" * size; end = time.perf_counter() + dur; sent = 0
    while time.perf_counter() < end:
        for _ in range(100):
            try:
                s.send(data); sent += 1
            except OSError:
                pass
    return sent

def trial(size, dur, via_relay, extra=()):
    pq, rq = mp.Queue(), mp.Queue()
    p = mp.Process(target=sink, args=(pq, size, dur, rq)); p.start(); port = pq.get()
    relay = None
    if via_relay:
        relay = subprocess.Popen([PY, "-m", "jetstream_qa", "relay", "--listen", "127.0.0.1:0",
                                  "--forward", f"127.0.0.1:{port}", *extra], stdout=subprocess.PIPE, text=True)
        line = relay.stdout.readline(); port = int(line.rsplit(":", 1)[1])
    sent = send(port, size, dur)
    total, n, el = rq.get(timeout=30); p.join()
    summ = None
    if relay:
        relay.terminate(); out = relay.communicate(timeout=10)[0]; summ = json.loads(out.strip().splitlines()[-1])
    return sent, total, n, el, summ

if __name__ == "__main__":
    for size in (int(a) for a in sys.argv[1:]):
        for via in (False, True):
            sent, total, n, el, summ = trial(size, 3.0, via)
            print(f"size={size} relay={via} sent={sent} recv={n} MB/s={total/el/1e6 if el else 0:.0f} "
                  f"relayfwd={summ and summ['clientToServer']['forwarded']}")

def impaired(size):
    sent, total, n, el, summ = trial(size, 3.0, True, ("--loss", "0.01", "--duplicate", "0.01", "--reorder", "0.01", "--seed", "1"))
    print(f"impaired size={size} recv={n} MB/s={total/el/1e6:.0f} summary={summ['clientToServer']}")
