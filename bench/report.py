#!/usr/bin/python3
"""report.py TMPDIR OUTDIR — turns the samples of bench/run.sh into
OUTDIR/latest.md (the table), OUTDIR/latest-samples.tsv (every sample),
OUTDIR/latest.png (gnuplot) and prints the table.

Inputs in TMPDIR: samples.tsv (case, subject, metric, round, value),
failures.tsv (case, subject, round, message), meta.tsv (key, value)."""
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

TMP, OUT = sys.argv[1], sys.argv[2]

samples = defaultdict(list)          # (case, subject, metric) -> [(round, value)]
for line in open(os.path.join(TMP, "samples.tsv")):
    f = line.rstrip("\n").split("\t")
    if len(f) == 5 and f[4] not in ("", "nan"):
        samples[(f[0], f[1], f[2])].append((int(f[3]), float(f[4])))
failures = defaultdict(list)         # (case, subject) -> [message]
for line in open(os.path.join(TMP, "failures.tsv")):
    f = line.rstrip("\n").split("\t")
    if len(f) == 4:
        failures[(f[0], f[1])].append("round %s: %s" % (f[2], f[3]))
meta = {}
for line in open(os.path.join(TMP, "meta.tsv")):
    k, _, v = line.rstrip("\n").partition("\t")
    meta[k] = v
docker_on = meta.get("docker") == "1"


def values(case, subj, metric):
    return [v for _, v in samples.get((case, subj, metric), [])]


def diffs(case, subj, metric, base, base_metric=None):
    """Per-sample differences subj - base, paired by round and order."""
    a = defaultdict(list)
    b = defaultdict(list)
    for r, v in samples.get((case, subj, metric), []):
        a[r].append(v)
    for r, v in samples.get((case, base, base_metric or metric), []):
        b[r].append(v)
    out = []
    for r in a:
        out += [x - y for x, y in zip(a[r], b.get(r, []))]
    return out


def num(v):
    if v is None:
        return "?"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def stat(vals):
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def cell(vals):
    s = stat(vals)
    if s is None:
        return None
    med, lo, hi = s
    if len(vals) == 1:
        return num(med)
    return "%s (%s–%s)" % (num(med), num(lo), num(hi))


def fail_text(case, subj):
    msgs = failures.get((case, subj))
    if msgs:
        return "failed: " + msgs[0][:120].replace("|", "/")
    return "no sample"


# A row: case label, figure, better ("higher"/"lower"), case key, metric,
# hubgate subject, direct subject (or a "n/a: ..." string), and per peer
# column a subject or a "n/a: ..." string. kind "diff" rows take
# subject - direct per round.
PEERS = ["mitmproxy", "squid", "tinyproxy", "nginx", "nginx tuned"]
NA_TUNNEL = "n/a: tunnels only, no TLS interception"
NA_REVERSE = "n/a: a reverse proxy, no CONNECT"
NA_DIRECT_PROXY = "n/a: no proxy on the direct path"
NA_MINT = "n/a: one static certificate, nothing minted"
NOT_RUN = "not run: same as nginx for this case"
NA_CACHE = "n/a: not a cache of this kind"
rows = [
    ("1 · %s MiB blob, intercepted (default config: direct link, verify_digest = auto, no hash)"
     % meta.get("blob_mib"), "MiB/s", "higher", "blob", "mibps",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("1 · same, verify_digest = always (hubgate hashes the blob, SHA-256)", "MiB/s", "higher",
     "blob", "mibps",
     "hubgate-digest", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("1 · same blob from hubgate's cache (a hit, no upstream); nginx column: nginx serving "
     "the file from disk over TLS", "MiB/s", "higher", "blob", "mibps",
     "hubgate-cache", "direct", [NA_CACHE, NA_CACHE, NA_TUNNEL, "nginx-disk", NA_CACHE]),
    ("1 · blob, passthrough CONNECT", "MiB/s", "higher", "blob", "mibps",
     "hubgate-pass", "direct", ["mitmproxy-pass", "squid-splice", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("2 · %s manifest GETs, 1 keep-alive conn., intercepted" % meta.get("lat_n"), "p50 µs", "lower",
     "lat", "p50_us", "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("2 · same", "p99 µs", "lower", "lat", "p99_us",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("2 · same, added over direct", "p50 µs added", "lower", "lat:diff", "p50_us",
     "hubgate", "—", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("2 · same, added over direct", "p99 µs added", "lower", "lat:diff", "p99_us",
     "hubgate", "—", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("2 · manifest GETs, passthrough CONNECT (tinyproxy: %s GETs, Nagle-bound)" % meta.get("lat_n_tinyproxy"),
     "p50 µs", "lower", "lat", "p50_us",
     "hubgate-pass", "direct", ["not run", "not run", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("4 · %s, intercepted" % meta.get("par"), "req/s", "higher", "par", "rps",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("4 · same", "p50 µs", "lower", "par", "p50_us",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("4 · same", "p99 µs", "lower", "par", "p99_us",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("4 · same, passthrough CONNECT", "req/s", "higher", "par", "rps",
     "hubgate-pass", "direct", ["not run", "not run", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("5 · %s idle CONNECT tunnels" % meta.get("idle_n"), "RSS MiB", "lower", "idle_tunnel", "rss_mib",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("5 · same", "KiB per tunnel", "lower", "idle_tunnel", "kib_per_conn",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("5 · same", "descriptors open", "lower", "idle_tunnel", "fds",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("5 · same", "descriptors added", "lower", "idle_tunnel", "fds_added",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("5 · %s intercepted conns. idle after 1 GET" % meta.get("idle_int_n"), "RSS MiB", "lower",
     "idle_int", "rss_mib", "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("5 · same", "KiB per conn.", "lower", "idle_int", "kib_per_conn",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", NA_TUNNEL, "nginx", NOT_RUN]),
    ("6 · TTFB, new host name (leaf minted)", "ms", "lower", "leaf", "first_ms",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, NA_MINT, NA_MINT]),
    ("6 · TTFB, same name again (leaf cached)", "ms", "lower", "leaf", "cached_ms",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, NA_MINT, NA_MINT]),
    ("6 · first use − cached (TTFB)", "ms", "lower", "leaf:self", "first_ms",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, NA_MINT, NA_MINT]),
    ("6 · TLS handshake done (curl appconnect), new name", "ms", "lower", "leaf", "first_tls_ms",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, NA_MINT, NA_MINT]),
    ("6 · TLS handshake done, same name again", "ms", "lower", "leaf", "cached_tls_ms",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, NA_MINT, NA_MINT]),
    ("7 · CPU per GiB, intercepted (case 1)", "CPU s/GiB", "lower", "cpu", "s_per_gib",
     "hubgate", NA_DIRECT_PROXY, ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("7 · CPU per GiB, intercepted, verify_digest = always", "CPU s/GiB", "lower", "cpu",
     "s_per_gib", "hubgate-digest", NA_DIRECT_PROXY, ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("7 · CPU per GiB, a cache hit; nginx column: nginx serving the file from disk over TLS",
     "CPU s/GiB", "lower", "cpu", "s_per_gib",
     "hubgate-cache", NA_DIRECT_PROXY, [NA_CACHE, NA_CACHE, NA_TUNNEL, "nginx-disk", NA_CACHE]),
    ("7 · CPU per GiB, passthrough", "CPU s/GiB", "lower", "cpu", "s_per_gib",
     "hubgate-pass", NA_DIRECT_PROXY, ["mitmproxy-pass", "squid-splice", "tinyproxy", NA_REVERSE, NA_REVERSE]),
    ("7 · machine CPU per GiB, intercepted: client + proxy + origin + kernel, both cores",
     "CPU s/GiB", "lower", "mcpu", "s_per_gib",
     "hubgate", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("7 · same, verify_digest = always", "CPU s/GiB", "lower", "mcpu", "s_per_gib",
     "hubgate-digest", "direct", ["mitmproxy", "squid", NA_TUNNEL, "nginx", "nginx-tuned"]),
    ("7 · same, passthrough", "CPU s/GiB", "lower", "mcpu", "s_per_gib",
     "hubgate-pass", "direct", ["mitmproxy-pass", "squid-splice", "tinyproxy", NA_REVERSE, NA_REVERSE]),
]
if docker_on:
    rows.insert(8, ("3 · docker pull, %s, fresh dockerd" % meta.get("docker_image"), "wall s", "lower",
                    "docker", "pull_s", "hubgate", "direct",
                    ["mitmproxy", "not run: the issue compares mitmproxy", "not run", NA_REVERSE, NA_REVERSE]))
    rows.insert(9, ("3 · same pull, every blob and manifest a hit of hubgate's cache (the tag "
                    "revalidated upstream with a HEAD)", "wall s", "lower", "docker", "pull_s",
                    "hubgate-cache", "direct", [NA_CACHE] * 5))
else:
    rows.insert(8, ("3 · docker pull", "wall s", "lower", "docker", "pull_s",
                    "n/a: not run (BENCH_DOCKER=0)", "n/a: not run (BENCH_DOCKER=0)",
                    ["n/a: not run (BENCH_DOCKER=0)"] * 5))


def row_values(case, metric, subj):
    if case.endswith(":diff"):
        return diffs(case[:-5], subj, metric, "direct")
    if case.endswith(":self"):
        return diffs(case[:-5], subj, metric, subj, metric.replace("first", "cached"))
    return values(case, subj, metric)


def ratio(a, b):
    if a is None or b is None:
        return "?"
    if a <= 0 or b <= 0:
        return "—"
    return "×%.2f" % (a / b)


table = []
head = ["case", "figure", "better", "hubgate: median (min–max)", "direct", "÷ direct"] + \
       ["%s (hubgate ÷ it)" % p for p in PEERS]
table.append(head)
for label, figure, better, case, metric, hsub, dsub, peers in rows:
    line = [label, figure, better]
    if hsub.startswith("n/a"):
        table.append(line + [hsub, dsub, "—"] + peers)
        continue
    hv = row_values(case, metric, hsub)
    hs = stat(hv)
    hmed = hs[0] if hs else None
    line.append(cell(hv) or fail_text(case.split(":")[0], hsub))
    if dsub.startswith("n/a") or dsub == "—":
        line += [dsub, "—"]
    else:
        dv = row_values(case, metric, dsub)
        ds = stat(dv)
        line += [cell(dv) or fail_text(case.split(":")[0], dsub), ratio(hmed, ds[0] if ds else None)]
    for p in peers:
        if p.startswith("n/a") or p.startswith("not run"):
            line.append(p)
            continue
        pv = row_values(case, metric, p)
        ps = stat(pv)
        if ps is None:
            line.append(fail_text(case.split(":")[0], p))
        else:
            line.append("%s (%s)" % (cell(pv), ratio(hmed, ps[0])))
    table.append(line)


def md_table(t):
    out = ["| " + " | ".join(t[0]) + " |", "|" + "---|" * len(t[0])]
    for r in t[1:]:
        out.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
    return "\n".join(out)


md = []
md.append("# hubgate benchmark — latest run\n")
md.append("Made by `make bench` (bench/run.sh) on %s: %s round(s)%s, cases alternated round by "
          "round; each figure is the median over rounds, with the spread (min–max) in brackets. "
          "Ratios are hubgate ÷ the other (median ÷ median): above 1 is better for \"higher\" "
          "rows, below 1 for \"lower\" rows." % (
              meta.get("date"), meta.get("rounds"),
              " (BENCH_QUICK=1 smoke run: small blob, fewer connections)" if meta.get("quick") == "1" else ""))
md.append("")
md.append("- hubgate: %s" % meta.get("hubgate"))
md.append("- machine: %s; everything on it (namespaces, loopback)" % meta.get("machine"))
md.append("- peers: %s" % meta.get("peers"))
md.append("- origin: nginx, TLS 1.3, HTTP/1.1, in its own network namespace behind a veth pair; "
          "clients: curl --http1.1 (cases 1, 6) and bench/hgbench.c (cases 2, 4, 5)")
if not docker_on:
    md.append("- case 3 (docker pull) was not run: BENCH_DOCKER=0")
md.append("")
md.append(md_table(table))
md.append("")


def med_of(case, subj, metric):
    st = stat(values(case, subj, metric))
    return st[0] if st else None


# Tunnels against the floor of a plain TCP relay (socat, case 1's blob).
relay = [["subject", "what", "MiB/s", "proxy CPU s/GiB", "machine CPU s/GiB",
          "hubgate-pass ÷ it (MiB/s)"]]
hp = med_of("blob", "hubgate-pass", "mibps")
for subj, what in [("direct", "no relay"), ("hubgate-pass", "CONNECT tunnel: downloads copied through 64 KiB, uploads spliced"),
                   ("socat", "socat TCP relay, its defaults (8 KiB read/write, fork)"),
                   ("tinyproxy", "CONNECT tunnel, read/write"),
                   ("squid-splice", "CONNECT, peeked then spliced")]:
    mv = values("blob", subj, "mibps")
    relay.append([subj, what, cell(mv) or fail_text("blob", subj),
                  cell(values("cpu", subj, "s_per_gib")) or "—",
                  cell(values("mcpu", subj, "s_per_gib")) or "—",
                  ratio(hp, med_of("blob", subj, "mibps"))])
md.append("Passthrough against a plain TCP relay (case 1's %s MiB blob through a tunnel):\n"
          % meta.get("blob_mib"))
md.append(md_table(relay))
md.append("")

# Case 8: a link shaped per connection.
if meta.get("shaped") == "1":
    one = med_of("shaped", "shaper", "mibps")
    sh = [["subject", "what", "MiB/s", "÷ one connection", "target"]]
    for subj, what, target in [
            ("shaper", "curl through the shaper alone: one connection", "—"),
            ("hubgate-s1", "hubgate, via = the shaper, segments = 1", "—"),
            ("hubgate-s2", "same, segments = 2", "≥ ×1.80"),
            ("hubgate-s4", "same, segments = 4", "≥ ×3.00")]:
        sh.append([subj, what, cell(values("shaped", subj, "mibps")) or fail_text("shaped", subj),
                   ratio(med_of("shaped", subj, "mibps"), one), target])
    md.append("8 · %s MiB blob over a link that caps every connection at %s/s "
              "(tests/integration/links/shaper.py), %s round(s):\n"
              % (meta.get("shaped_mib"), meta.get("shaped_rate"), meta.get("shaped_rounds")))
    md.append(md_table(sh))
    md.append("")
    s1 = med_of("docker_shaped", "hubgate-s1", "pull_s")
    s4 = med_of("docker_shaped", "hubgate-s4", "pull_s")
    if s1 is not None or s4 is not None or meta.get("docker") == "1":
        dp = [["subject", "what", "wall s", "speed-up over segments = 1", "target"],
              ["hubgate-s1", "docker pull (case 3's image) through hubgate over the shaper, "
               "segments = 1", cell(values("docker_shaped", "hubgate-s1", "pull_s"))
               or fail_text("docker_shaped", "hubgate-s1"), "×1.00", "—"],
              ["hubgate-s4", "same, segments = 4", cell(values("docker_shaped", "hubgate-s4", "pull_s"))
               or fail_text("docker_shaped", "hubgate-s4"),
               ratio(s1, s4) if s1 is not None and s4 is not None else "?", "≥ ×2.00"]]
        md.append("8 · docker pull over the same shaped link:\n")
        md.append(md_table(dp))
        md.append("")
else:
    md.append("8 · shaped link: not run (BENCH_SHAPED=0)\n")
fl = sorted(failures.items())
if fl:
    md.append("Failed measurements (not in the medians):\n")
    for (case, subj), msgs in fl:
        for m in msgs:
            md.append("- %s / %s: %s" % (case, subj, m))
    md.append("")
md.append("Raw samples: latest-samples.tsv (case, subject, metric, round, value). "
          "Chart: latest.png.")
text = "\n".join(md) + "\n"
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "latest.md"), "w") as f:
    f.write(text)
shutil.copy(os.path.join(TMP, "samples.tsv"), os.path.join(OUT, "latest-samples.tsv"))
print(text)

# ---------------------------------------------------------------- chart


def med(case, subj, metric):
    s = stat(values(case, subj, metric))
    return "%.3f" % s[0] if s else "?"


def dat(name, rows_):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        for r in rows_:
            f.write(" ".join('"%s"' % r[0] if i == 0 else r[i] for i in range(len(r))) + "\n")
    return p


blob_subj = ["direct", "hubgate", "hubgate-digest", "hubgate-pass", "mitmproxy", "mitmproxy-pass",
             "squid", "squid-splice", "tinyproxy", "nginx", "nginx-tuned", "socat"]
lat_subj = ["direct", "hubgate", "hubgate-pass", "mitmproxy", "squid", "tinyproxy", "nginx"]
d1 = dat("c1.dat", [(s, med("blob", s, "mibps")) for s in blob_subj])
d7 = dat("c7.dat", [(s, med("cpu", s, "s_per_gib")) for s in blob_subj if s != "direct"])
d2 = dat("c2.dat", [(s, med("lat", s, "p50_us"), med("lat", s, "p99_us")) for s in lat_subj])
d4 = dat("c4.dat", [(s, med("par", s, "rps")) for s in lat_subj])
d5 = dat("c5.dat", [(s, med("idle_tunnel", s, "rss_mib"), med("idle_int", s, "rss_mib"))
                    for s in ["hubgate", "mitmproxy", "squid", "tinyproxy", "nginx"]])
d6 = dat("c6.dat", [(s, med("leaf", s, "first_ms"), med("leaf", s, "cached_ms"))
                    for s in ["direct", "hubgate", "mitmproxy", "squid"]])
gp = os.path.join(TMP, "chart.gp")
png = os.path.join(OUT, "latest.png")
with open(gp, "w") as f:
    f.write("""set terminal pngcairo size 1500,1250 font ',9'
set output '%(png)s'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -35 nomirror
set key top right
set yrange [0:*]
set multiplot layout 3,2 title 'hubgate benchmark, %(date)s, medians of %(rounds)s round(s)'
set title 'Case 1: %(blob)s MiB blob over TLS (MiB/s, higher is better)'
plot '%(d1)s' using 2:xtic(1) title 'MiB/s' lc rgb '#3070b0'
set title 'Case 2: manifest GET latency, one keep-alive connection (µs, log scale, lower is better)'
set logscale y
set yrange [10:*]
plot '%(d2)s' using 2:xtic(1) title 'p50' lc rgb '#3070b0', '' using 3 title 'p99' lc rgb '#c05030'
unset logscale y
set yrange [0:*]
set title 'Case 4: %(par)s (req/s, higher is better)'
plot '%(d4)s' using 2:xtic(1) title 'req/s' lc rgb '#3070b0'
set title 'Case 7: proxy CPU seconds per GiB moved (lower is better)'
plot '%(d7)s' using 2:xtic(1) title 'CPU s/GiB' lc rgb '#c05030'
set title 'Case 5: RSS with idle connections (MiB, lower is better)'
plot '%(d5)s' using 2:xtic(1) title '%(idle)s tunnels' lc rgb '#3070b0', '' using 3 title '%(idle_int)s intercepted' lc rgb '#c05030'
set title 'Case 6: time to first byte, new connection (ms, lower is better)'
plot '%(d6)s' using 2:xtic(1) title 'new name (leaf minted)' lc rgb '#3070b0', '' using 3 title 'same name again' lc rgb '#c05030'
unset multiplot
""" % dict(png=png, date=meta.get("date"), rounds=meta.get("rounds"), blob=meta.get("blob_mib"),
           par=meta.get("par"), idle=meta.get("idle_n"), idle_int=meta.get("idle_int_n"),
           d1=d1, d2=d2, d4=d4, d5=d5, d6=d6, d7=d7))
r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=120)
if r.returncode != 0:
    print("report.py: gnuplot failed: %s" % r.stderr[:2000], file=sys.stderr)
    # a run of some cases only (BENCH_CASES) has empty panels: no chart
    sys.exit(0 if meta.get("cases", "all") != "all" else 1)
