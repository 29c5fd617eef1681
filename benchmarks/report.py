"""Writes a result document as JSON, a Markdown table and PNG plots (matplotlib)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .stamp import one_line

RUNNER_ORDER = ("floor", "thin", "thin-kubeconfig", "thin-python", "thick", "reference")


def _cell(s: dict[str, Any]) -> str:
    if not s or not s.get("n"):
        return "–"
    return f"{s['min']:.1f} / **{s['median']:.1f}** / {s['p95']:.1f} / {s['max']:.1f}"


def _runners(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runners = doc.get("runners", {})
    return [(name, runners[name]) for name in RUNNER_ORDER if name in runners]


def markdown(doc: dict[str, Any]) -> str:
    opts = doc["options"]
    if doc["scenarios"] and all("cluster" in sc for sc in doc["scenarios"]):
        # scenario 6 alone: API load, not latency
        lines = ["# multus-dp: a cluster on one machine (benchmark scenario 6)", "", f"{one_line(doc['stamp'])}", ""]
        for sc in doc["scenarios"]:
            lines += [f"## Scenario {sc['number']}: {sc['title']}", ""] + cluster_markdown(sc["cluster"])
        return "\n".join(lines)
    lines = [f"# multus-dp attach/detach latency", "",
             f"{one_line(doc['stamp'])}", "",
             f"Latencies in ms as min / **median** / p95 / max over {opts['runs']} runs after {opts['warmup']} "
             f"warm-up runs (scenario 4: {opts['rounds']} rounds of pods at once, every pod a sample), "
             "runners interleaved iteration by iteration"
             + (f", every DEL {opts['settle'] * 1000:.0f} ms after its ADD returned" if opts.get("settle") else "")
             + ". Every run was verified (interfaces with addresses "
             "in the pod after ADD; nothing left after DEL). Ratios are ours/other, iteration by iteration.", ""]
    if doc["stamp"].get("reference"):
        lines += [f"Reference meta-plugin: `{doc['stamp']['reference']}`.", ""]
    h = doc.get("harness", {})
    if h:
        lines += [f"Harness floor: exec of `/bin/true` {h['exec_true']['median']:.2f} ms, the C floor driver with no "
                  f"delegate {h['floor_driver_empty']['median']:.2f} ms (medians; included in every figure alike).", ""]
    for sc in doc["scenarios"]:
        lines += [f"## Scenario {sc['number']}: {sc['title']}", ""]
        if sc.get("status") == "pending":
            lines += [f"**Pending** — {sc['pending']}", ""]
            continue
        if "cluster" in sc:
            lines += cluster_markdown(sc["cluster"])
            continue
        if "api" in sc:
            lines += ["| cache | requests per ADD (median) | per DEL | ADD by kind (per pod) | DEL by kind | "
                      "ADD ms | DEL ms |", "|---|---|---|---|---|---|---|"]
            for mode, a in sc["api"].items():
                if a["failed"]:
                    lines.append(f"| {mode} | broken: {a['failed']} | | | | | |")
                    continue
                kinds = lambda d: ", ".join(f"{k} {v:g}" for k, v in d.items()) or "none"  # noqa: E731
                lines.append(f"| {mode} | {a['requests_per_add']['median']:g} | {a['requests_per_del']['median']:g} | "
                             f"{kinds(a['add_by_kind_per_pod'])} | {kinds(a['del_by_kind_per_pod'])} | "
                             f"{_cell(a['add_latency'])} | {_cell(a['del_latency'])} |")
            lines.append("")
            continue
        lines += ["| runner | ADD ms | DEL ms | n |", "|---|---|---|---|"]
        for name, r in _runners(sc):
            if r["failed"]:
                lines.append(f"| {name} | broken: {r['failed'][:200]} | | |")
            else:
                lines.append(f"| {name} — {r['label']} | {_cell(r['add'])} | {_cell(r['del'])} | {r['add']['n']} |")
        lines.append("")
        spans = [(n, r["makespan"]) for n, r in _runners(sc) if r.get("makespan") and not r["failed"]]
        if spans:
            lines += [f"All {sc['pods_at_once']} pods, first spawn to last reap (ms):", "",
                      "| runner | ADD makespan | DEL makespan |", "|---|---|---|"]
            lines += [f"| {n} | {_cell(m['add'])} | {_cell(m['del'])} |" for n, m in spans]
            lines.append("")
        comp = sc.get("comparisons", {})
        if comp:
            lines += ["| pair | ADD ratio | DEL ratio | ADD difference ms | DEL difference ms |", "|---|---|---|---|---|"]
            for key, c in comp.items():
                if "add_ratio" in c:
                    lines.append(f"| {key} | {c['add_ratio']['median']:.2f} | {c['del_ratio']['median']:.2f} | "
                                 f"{c['add_difference_ms']['median']:+.1f} | {c['del_difference_ms']['median']:+.1f} |")
                else:
                    lines.append(f"| {key} (medians; makespan {c['makespan_add_ratio']:.2f} / {c['makespan_del_ratio']:.2f}) | "
                                 f"{c['add_ratio_of_medians']:.2f} | {c['del_ratio_of_medians']:.2f} | | |")
            lines.append("")
        for name, r in _runners(sc):
            d = r.get("daemon")
            if not d or r["failed"]:
                continue
            phases = lambda p: ", ".join(f"{k} {v:.1f}" for k, v in p.items())  # noqa: E731
            lines += [f"Daemon breakdown ({name}, medians, ms): ADD handled in {d['add']['median']:.1f} "
                      f"({phases(d['phases_add_median_ms'])}); shim + socket {d['shim_and_transport_add']['median']:.1f}. "
                      f"DEL handled in {d['del']['median']:.1f} ({phases(d['phases_del_median_ms'])}); "
                      f"shim + socket {d['shim_and_transport_del']['median']:.1f}. Parallel delegates overlap, "
                      "so their phases can add up to more than the request.", ""]
    if doc.get("targets"):
        lines += ["## Targets (medians)", "", "| target | limit | measured | met |", "|---|---|---|---|"]
        for t in doc["targets"]:
            value = "–" if t["value"] is None else f"{t['value']:g}{t['unit']}"
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['target']} | {t['limit']} | {value} | {met}{' — ' + t['note'] if t['note'] else ''} |")
        lines.append("")
    return "\n".join(lines)


def _kinds(by_kind: dict[str, Any], what: str = "requests") -> str:
    parts = [f"{k} {v[what]:g}" for k, v in by_kind.items() if v[what]]
    return ", ".join(parts) or "none"


def _detail(parts: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in parts.items())


def cluster_markdown(c: dict[str, Any]) -> list[str]:
    """Scenario 6: per-daemon start-up/idle, per-pod ADD/DEL, and the 300-node extrapolation."""
    o = c["options"]
    lines = [f"{o['nodes']} daemons, {o['pods_per_node']} pods per node, {o['networks_per_pod']} NAD(s) per pod "
             f"+ the cluster network; idle windows of {o['idle_seconds']:g} s; kubeNadScope "
             f"`{o.get('nad_scope', 'cluster')}`; the rest of the cluster: {o.get('other_pods', 0)} pods on other "
             f"nodes, {o.get('other_nads', 0)} NADs in 10 other namespaces. Requests and bytes as the API server "
             "saw them, per daemon (medians over daemons) or per pod; watch bytes are events streamed on open "
             "watches.", ""]
    if c.get("failed"):
        lines += [f"**Broken** — {c['failed']}", ""]
    rows = [("start-up", c.get("startup")), ("idle", c.get("idle")),
            ("start-up, legacy CRD installed", c.get("startup_with_legacy_crd")),
            ("idle, legacy CRD installed", c.get("idle_with_legacy_crd"))]
    lines += ["| per daemon | requests | bytes | by verb/resource (requests) | time to ready s (median/max) | "
              "RSS MB (median/max) |", "|---|---|---|---|---|---|"]
    for label, w in rows:
        if not w:
            continue
        ready, rss = w.get("ready_seconds"), w.get("rss_mb")
        ready_cell = f"{ready['median']:g} / {ready['max']:g}" if ready else "–"
        rss_cell = f"{rss['median']:g} / {rss['max']:g}" if rss else "–"
        per_min = f" ({w['requests_per_minute_per_daemon']:g}/min)" if "requests_per_minute_per_daemon" in w else ""
        lines.append(f"| {label} ({w['seconds']:g} s) | {w['requests_per_daemon']['median']:g}{per_min} | "
                     f"{w['bytes_per_daemon']['median']:g} | {_kinds(w['by_kind_median'])} | {ready_cell} | "
                     f"{rss_cell} |")
    lines.append("")
    for label, key in (("ADD", "add"), ("DEL", "del")):
        p = c.get(key)
        if p:
            lines.append(f"- per {label} ({p['pods']} pods): **{p['requests_per_pod']:g}** request(s): "
                         f"{_kinds(p['by_kind_per_pod'])}; bytes per pod: {_kinds(p['by_kind_per_pod'], 'bytes')}")
    if c.get("rss_mb_after_add"):
        lines.append(f"- RSS after the ADDs: {c['rss_mb_after_add']['median']:g} MB median per daemon")
    lines.append("")
    x = c.get("extrapolation")
    if x:
        t = x["target"]
        lines += [f"Extrapolated to {t['nodes']} nodes x {t['pods_per_node']} pods x {t['networks_per_pod']} "
                  "networks:", "",
                  "| | multus-dp | Multus per-pod pattern |", "|---|---|---|",
                  f"| requests per ADD | {x['per_add']['multus_dp']:g} ({_detail(x['per_add']['multus_dp_detail'])}) | "
                  f"{x['per_add']['multus']} ({_detail(x['per_add']['multus_detail'])}) |",
                  f"| requests per DEL | {x['per_del']['multus_dp']:g} | {x['per_del']['multus']} |",
                  f"| full churn (every pod ADD + DEL) | {x['full_churn_requests']['multus_dp']} | "
                  f"{x['full_churn_requests']['multus']} |",
                  f"| idle requests/s, whole cluster | {x['idle_requests_per_second_cluster']['multus_dp']:g} "
                  f"(before the legacy-CRD fix: {x['idle_requests_per_second_cluster']['multus_dp_before_legacy_fix']:g}) "
                  "| – |"]
        if x.get("rss_total_gb") is not None:
            lines.append(f"| RSS, all daemons | {x['rss_total_gb']:g} GB | – |")
        lines += ["", "Assumptions:", ""] + [f"- {a}" for a in x["assumptions"]] + [""]
    return lines


def plots(doc: dict[str, Any], out_dir: Path, name: str) -> list[Path]:
    """latency plot (box per runner, ADD and DEL, per scenario) and the daemon phase breakdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    scenarios = [s for s in doc["scenarios"] if s.get("runners")]
    if scenarios:
        fig, axes = plt.subplots(len(scenarios), 2, figsize=(11, 3.2 * len(scenarios)), squeeze=False)
        for row, sc in zip(axes, scenarios):
            for ax, op in zip(row, ("add", "del")):
                runners = [(n, r) for n, r in _runners(sc) if not r["failed"] and r["samples_ms"][op]]
                if runners:
                    ax.boxplot([r["samples_ms"][op] for _, r in runners], tick_labels=[n for n, _ in runners],
                               showfliers=True, whis=(5, 95))
                ax.set_yscale("log")
                ax.set_ylabel("ms (log)")
                ax.set_title(f"S{sc['number']} {sc['key']}: {op.upper()}", fontsize=10)
                ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"multus-dp attach/detach latency — {one_line(doc['stamp'])[:110]}", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{name}-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    bars = [(sc, r["daemon"]) for sc in scenarios for n, r in _runners(sc)
            if n == "thick" and r.get("daemon") and not r["failed"]]
    if bars:
        fig, ax = plt.subplots(figsize=(13, 1.2 + 0.7 * len(bars) * 2))
        labels, y = [], 0
        colours: dict[str, Any] = {}
        cmap = plt.get_cmap("tab20")
        for sc, d in bars:
            for op in ("add", "del"):
                parts = dict(d[f"phases_{op}_median_ms"])
                parts["shim + socket"] = max(0.0, d[f"shim_and_transport_{op}"]["median"])
                left = 0.0
                for key, value in parts.items():
                    colour = colours.setdefault(key, cmap(len(colours) % 20))
                    ax.barh(y, value, left=left, color=colour, label=key if key not in ax.get_legend_handles_labels()[1] else None)
                    left += value
                ax.plot([d[op]["median"] + parts["shim + socket"]], [y], "k|", markersize=14)
                labels.append(f"S{sc['number']} {op.upper()}")
                y += 1
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("ms (medians; | = daemon request + shim; parallel phases overlap)")
        ax.set_title("thick mode: where an ADD/DEL spends its time", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = out_dir / f"{name}-phases.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(doc: dict[str, Any], out_dir: Path, name: str, with_plots: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    md_path.write_text(markdown(doc) + "\n")
    written = [json_path, md_path]
    if with_plots:
        written += plots(doc, out_dir, name)
    return written
