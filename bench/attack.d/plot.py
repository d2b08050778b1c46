"""bench/attack: outcomes over time for both runs, as one PNG.

Top row: per 5-second bin, legitimate logins that succeeded and that failed,
attacker attempts (all tools) and, on the right axis, the attackers'
successful logins so far. Bottom row: legitimate login latency per bin
(median and the slowest). Time 0 is the start of the attack; before it,
legitimate traffic only.
"""

import math

import matplotlib

from clients import Event

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BIN = 5.0


def _bins(r):
    """Bins of BIN seconds, one edge at the attack's start."""
    lo = -BIN * math.ceil(r["warmup"] / BIN)
    return lo, int(math.ceil((r["duration"] - lo) / BIN))


def _series(r):
    lo, n = _bins(r)
    mid = [lo + BIN * (i + 0.5) for i in range(n)]
    legit_ok, legit_bad, att, victim_bad = [0] * n, [0] * n, [0] * n, [0] * n
    victim_pts = []  # (t, latency ms, ok) of the stolen token's owner
    # only clientid knows devices: in the baseline, device 0 is one of many
    victim = r["victim_account"] if r["kind"] == "clientid" else None
    lat = [[] for _ in range(n)]
    logins = []  # times of attacker logins

    def idx(t):
        i = int((t - lo) // BIN)
        return i if 0 <= i < n else None

    for e in map(Event._make, r["events"]):
        i = idx(e.t)
        if e.who == "legit":
            if i is None:
                continue
            if e.account == victim:
                victim_pts.append((e.t, e.latency * 1000, e.outcome == "ok"))
                if e.outcome != "ok":
                    victim_bad[i] += 1
                    continue
            (legit_ok if e.outcome == "ok" else legit_bad)[i] += 1
            if e.account != victim:
                lat[i].append(e.latency * 1000)
        else:
            if i is not None:
                att[i] += 1
            if e.outcome == "ok":
                logins.append(e.t)
    for h in r["hydra"].values():
        for t, _ in h["attempts"]:
            i = idx(t)
            if i is not None:
                att[i] += 1
        logins.extend(t for t, _ in h["found"])
    per_s = [[x / BIN for x in s] for s in (legit_ok, legit_bad, att, victim_bad)]
    med = [sorted(x)[len(x) // 2] if x else float("nan") for x in lat]
    top = [max(x) if x else float("nan") for x in lat]
    return mid, per_s, med, top, sorted(logins), victim_pts


def _title(r):
    name = {"baseline": "baseline: IP-based defences only",
            "clientid": "clientid: enforce mode"}[r["kind"]]
    return "%s\nlegitimate success %.2f%%, attacker logins %d" % (
        name, 100 * r["legit_success"], r["attacker_logins"])


def draw(res, path, opts):
    if not res:
        return
    fig, axes = plt.subplots(2, len(res), figsize=(6.5 * len(res), 8), squeeze=False,
                             sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ymax = 0
    lat_max = 1
    series = [_series(r) for r in res]
    for (mid, per_s, _med, top, _logins, vpts) in series:
        ymax = max([ymax] + [max(s) for s in per_s])
        lat_max = max([lat_max] + [t for t in top if t == t] + [v[1] for v in vpts])
    for col, (r, (mid, per_s, med, top, logins, vpts)) in enumerate(zip(res, series)):
        ax, lx = axes[0][col], axes[1][col]
        ax.axvspan(-r["warmup"], 0, color="0.92", zorder=0)
        ax.plot(mid, per_s[0], "-o", color="tab:green", ms=3, label="legitimate logins ok")
        ax.plot(mid, per_s[1], "-o", color="tab:red", ms=3,
                label="legitimate logins failed" + (" (other devices)" if vpts else ""))
        if vpts:
            ax.plot(mid, per_s[3], "--", color="tab:purple", lw=1.5,
                    label="failed: device 0, whose token was stolen")
        ax.plot(mid, per_s[2], "-", color="0.45", label="attacker attempts (all tools)")
        ax.set_ylim(0, ymax * 1.5 + 0.5)  # room for the legend
        ax.set_ylabel("per second (5 s bins)")
        ax.set_title(_title(r), fontsize=11)
        ax.grid(alpha=0.3)
        tx = ax.twinx()
        xs = [-r["warmup"]] + logins + [r["duration"]]
        ys = [0] + list(range(1, len(logins) + 1)) + [len(logins)]
        tx.step(xs, ys, where="post", color="black", lw=2, label="attacker logins (cumulative)")
        tx.set_ylim(0, max(10, max(len(s[4]) for s in series) * 1.5))
        tx.set_ylabel("attacker logins so far")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = tx.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7.5, framealpha=0.9, ncol=2)
        lx.axvspan(-r["warmup"], 0, color="0.92", zorder=0)
        others = " (other devices)" if vpts else ""
        lx.plot(mid, med, "-o", color="tab:blue", ms=3, label="median" + others)
        lx.plot(mid, top, "-o", color="tab:orange", ms=3, label="slowest in the bin" + others)
        for ok in (True, False) if vpts else ():
            pts = [v for v in vpts if v[2] == ok]
            lx.plot([v[0] for v in pts], [v[1] for v in pts], "x" if not ok else "+",
                    color="tab:purple" if not ok else "tab:green", ms=6, ls="none",
                    label="device 0 (token stolen): %s" % ("refused" if not ok else "ok"))
        lx.set_yscale("log")
        lx.set_ylim(5, lat_max * 8)  # room for the legend
        lx.set_ylabel("legitimate login latency (ms)")
        lx.set_xlabel("seconds since the attack started (grey: before the attack)")
        lx.grid(alpha=0.3, which="both")
        lx.legend(loc="upper left", fontsize=7, ncol=2)
    fig.suptitle("bench/attack: %d devices behind one address, hydra + random-CLIENTID + "
                 "stolen-token attackers, %d s" % (opts.devices, opts.duration), fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
