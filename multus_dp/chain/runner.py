"""ADD/DEL/CHECK/GC/STATUS over a pod's attachments.

ADD journals the whole plan before the first delegate runs, runs the cluster network
first and the secondary attachments in parallel (or in order with "parallel": false),
and rolls back everything it started when any step fails. DEL is driven by the journal,
so it works when the pod, the API or the netns are gone.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from multus_dp import logs
from multus_dp.cni import result as cniresult
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.config import parse_network_config
from multus_dp.cni.gc import valid_attachments
from multus_dp.cni.invoke import RuntimeConf, Started, check_plugin_type
from multus_dp.cni.request import CNIRequest, parse_cni_args
from multus_dp.cni.versions import at_least
from multus_dp.networks.attachment import Attachment, PodRef
from multus_dp.networks.conf import MultusConf
from multus_dp.networks.status import status_entry

from .delegates import Delegates
from .journal import ADDED, DELETED, FAILED, PLANNED, RUNNING, Journal, JournalEntry, JournalStore
from .publish import StatusPublisher

log = logs.get("chain")

Selector = Callable[[CNIRequest, MultusConf], list[Attachment]]
PhaseObserver = Callable[[str, float, dict[str, str]], None]


@dataclass
class ChainRunner:
    conf: MultusConf
    delegates: Delegates
    journals: JournalStore
    select: Selector
    publisher: StatusPublisher | None = None
    observe_phase: PhaseObserver | None = None
    device_info: Callable[[Attachment, str], dict[str, Any] | None] | None = None
    cluster_config: Callable[[MultusConf], dict[str, Any] | None] | None = None
    _ready_checks: list[Callable[[], str | None]] = field(default_factory=list)

    # ---- helpers -------------------------------------------------------------------------
    def cni_path(self, req: CNIRequest) -> list[str]:
        paths = list(req.path)
        if self.conf.binDir and self.conf.binDir not in paths:
            paths.append(self.conf.binDir)
        return paths

    def _phase(self, name: str, start: float, **labels: str) -> None:
        if self.observe_phase is not None:
            self.observe_phase(name, time.monotonic() - start, labels)

    def _rt(self, journal: Journal, att: Attachment, netns: str | None = None) -> RuntimeConf:
        args = list(parse_cni_args(journal.cni_args).items())
        if not att.is_default:
            # the runtime's own requests (podman's IP=, MAC=) are for the cluster network; the
            # others get only the pod's identity, as Multus passes them
            args = [(k, v) for k, v in args if k == "IgnoreUnknown" or k.startswith("K8S_")]
        args += att.cni_args  # the pod's own requests (MAC=, IP=), on every command like runtimeConfig
        if args and not any(k == "IgnoreUnknown" for k, _ in args):
            # kubelet always sends it; without it Go plugins reject K8S_POD_* args
            args.insert(0, ("IgnoreUnknown", "1"))
        return RuntimeConf(container_id=journal.container_id, netns=journal.netns if netns is None else netns,
                           ifname=att.ifname, args=args, capability_args=att.capability_args)

    @staticmethod
    def _where(journal: Journal, att: Attachment) -> str:
        return f"pod {journal.pod.label()}, network {att.network}, interface {att.ifname}"

    # ---- ADD -----------------------------------------------------------------------------
    def add(self, req: CNIRequest) -> dict[str, Any]:
        with self.journals.container_lock(req.container_id):
            existing = self.journals.load(req.container_id)
            if existing is not None:
                raise CNIError(Code.ALREADY_ATTACHED,
                               f"container {req.container_id} ({existing.pod.label()}) already has attachments "
                               f"recorded in {self.journals.path(req.container_id)}; DEL it first")
            start = time.monotonic()
            plan = self.select(req, self.conf)
            self._phase("selection", start)
            _log_notices(req, plan)
            _check_attachment_count(req, plan, self.conf.maxAttachments)
            _check_unique_ifnames(req, plan)
            _check_plugin_types(req, plan)
            journal = Journal(container_id=req.container_id, netns=req.netns, ifname=req.ifname,
                              pod=PodRef(req.pod_namespace, req.pod_name, req.pod_uid),
                              cni_version=self.conf.cniVersion, cni_args=req.args_raw,
                              entries=[JournalEntry(att) for att in plan])
            try:
                self.journals.save(journal, durable=True)
            except CNIError as exc:  # nothing has run yet: nothing to undo
                raise exc.prefixed(f"pod {journal.pod.label()}") from exc
            cni_path = self.cni_path(req)
            try:
                self._run_adds(journal, cni_path)
                self._default_routes(journal)
                result = self._final_result(journal)  # a result the runtime's version cannot carry: undo
            except CNIError as exc:
                self._rollback(journal, cni_path)
                raise exc
            start = time.monotonic()
            journal.status = [status_entry(e.attachment, e.result, self._device_info(e.attachment, journal))
                              for e in journal.entries]
            self._publish(journal)
            self._phase("publish", start)
            return result

    def _default_routes(self, journal: Journal) -> None:
        """`default-route` requests: the pod's default route goes through that attachment."""
        for entry in journal.entries:
            for gateway in entry.attachment.default_route:
                from multus_dp.netops.default_route import replace_default_route

                try:
                    replace_default_route(journal.netns, entry.attachment.ifname, gateway)
                except CNIError as exc:
                    raise exc.prefixed(self._where(journal, entry.attachment)) from exc

    def _device_info(self, att: Attachment, journal: Journal) -> dict[str, Any] | None:
        if self.device_info is not None:
            info = self.device_info(att, journal.container_id)
            if info is not None:
                return info
        return read_device_info(att)

    def _start(self, journal: Journal, entry: JournalEntry, command: str, cni_path: Sequence[str],
               netns: str | None = None) -> Started | None:
        """The entry's first plugin process for `command`, started ahead of its call (its exec
        and start-up overlap the work before that call; it reads its configuration only then)."""
        att = entry.attachment
        try:
            return self.delegates.start(att.netconf(), command, self._rt(journal, att, netns), cni_path)
        except CNIError:
            return None   # the call itself meets the error again and reports it

    def _run_adds(self, journal: Journal, cni_path: Sequence[str]) -> None:
        entries = journal.entries
        first, rest = entries[0], entries[1:]
        in_order = bool(rest) and not (self.conf.parallel and len(rest) > 1)
        # in order: each delegate's process starts while the one before it starts up and runs
        # (the plan is durable by now; a started plugin acts only once its call gives it its
        # configuration)
        current: Started | None = None
        upcoming: Started | None = None
        try:
            current = self._start(journal, first, "ADD", cni_path)
            upcoming = self._start(journal, rest[0], "ADD", cni_path) if in_order else None
            self._add_one(journal, first, cni_path, current)
            if not rest:
                return
            if not in_order:
                workers = min(len(rest), self.conf.maxParallelDelegates)
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delegate") as pool:
                    futures = [pool.submit(self._add_one, journal, e, cni_path) for e in rest]
                    errors = [f.exception() for f in futures]
                for err in errors:  # first failure in declared order
                    if err is not None:
                        raise err
                return
            for index, entry in enumerate(rest):
                current, upcoming = upcoming, (self._start(journal, rest[index + 1], "ADD", cni_path)
                                               if index + 1 < len(rest) else None)
                self._add_one(journal, entry, cni_path, current)
        finally:
            for started in (current, upcoming):   # unless their calls took them
                if started is not None:
                    started.cancel()

    def _add_one(self, journal: Journal, entry: JournalEntry, cni_path: Sequence[str],
                 ready: Started | None = None) -> None:
        # No journal write before the delegate runs: DEL treats a PLANNED entry like one whose
        # ADD never completed (best effort), so a crash at any point is covered by the plan.
        att = entry.attachment
        entry.state = RUNNING
        start = time.monotonic()
        try:
            entry.result = self.delegates.add(att.netconf(), self._rt(journal, att), cni_path, att.extra, ready)
            entry.state = ADDED
        except CNIError as exc:
            entry.state = FAILED
            entry.error = exc.msg
            self.journals.record_or_note(journal, entry)  # the delegate's error is the one to report
            raise exc.prefixed(self._where(journal, att)) from exc
        except Exception as exc:  # a bug in a built-in delegate: still roll back
            entry.state = FAILED
            entry.error = repr(exc)
            self.journals.record_or_note(journal, entry)
            log.exception("delegate raised", extra={"network": att.network, "ifname": att.ifname})
            raise CNIError(Code.INTERNAL, f"{self._where(journal, att)}: internal error: {exc}") from exc
        finally:
            if ready is not None:
                ready.cancel()   # unless the delegate's call took it
            self._phase("delegate", start, type=_plugin_types(att))
        try:
            self.journals.record(journal, entry)
        except CNIError as exc:  # the ADD fails (and rolls back): the state dir is full or read-only
            raise exc.prefixed(self._where(journal, att)) from exc

    def _rollback(self, journal: Journal, cni_path: Sequence[str]) -> None:
        """Undo from the plan in memory: a journal that cannot be written (state dir full or
        read-only) never stops it; the file keeps its last good version for a later DEL."""
        # in memory, PLANNED is exact: those delegates never started
        failures = self._delete_entries(journal, cni_path, journal.netns, skip_planned=True)
        if journal.write_error is not None:
            log.error("journal writes failed during the ADD and its rollback (undone from memory): %s",
                      journal.write_error.msg, extra={"container": journal.container_id, "pod": journal.pod.label()})
        if failures:
            log.error("rollback left attachments behind; journal kept for DEL",
                      extra={"container": journal.container_id, "pod": journal.pod.label()})
            return
        try:
            self.journals.remove(journal.container_id)
        except CNIError as exc:
            log.error("rollback complete but the journal stays: %s", exc.msg,
                      extra={"container": journal.container_id, "pod": journal.pod.label()})

    def _final_result(self, journal: Journal) -> dict[str, Any]:
        version = journal.cni_version
        master = journal.entries[0].result or {"cniVersion": version}
        if not self.conf.fullResult:
            return cniresult.convert(master, version)
        return cniresult.convert(merge_results([e.result or {} for e in journal.entries]), version)

    def _publish(self, journal: Journal) -> None:
        if self.publisher is None:
            return
        try:
            notices = [n for e in journal.entries for n in e.attachment.notices]
            self.publisher.publish(journal.pod, journal.container_id, journal.status, notices=notices)
        except Exception:  # publishing never fails an ADD
            log.exception("publishing network-status failed", extra={"pod": journal.pod.label()})

    # ---- DEL -----------------------------------------------------------------------------
    def delete(self, req: CNIRequest) -> None:
        with self.journals.container_lock(req.container_id):
            journal = self.journals.load(req.container_id)
            on_disk = journal is not None
            if journal is None:
                journal = self._recompute(req)
                if journal is None:
                    return
            cni_path = self.cni_path(req)
            netns = req.netns or journal.netns
            if netns and not os.path.exists(netns):
                netns = ""  # gone: delegates clean up host-side state without it
            failures = self._delete_entries(journal, cni_path, netns, persist=on_disk)
            if failures:
                unsaved = (f" (the journal could not be updated: {journal.write_error.msg}; a retry runs "
                           "the finished steps again)") if journal.write_error else ""
                raise CNIError(Code.DELEGATE_FAILED,
                               f"DEL of pod {journal.pod.label()} failed for {len(failures)} attachment(s); "
                               f"state kept for retry{unsaved}: " + "; ".join(f.msg for f in failures))
            try:
                self.journals.remove(journal.container_id)
            except CNIError as exc:
                # everything is deleted; the journal (its last good version) lets a later DEL finish
                raise exc.prefixed(f"DEL of pod {journal.pod.label()}: every attachment was deleted") from exc
            if self.publisher is not None:
                try:
                    self.publisher.withdraw(journal.pod, journal.container_id)
                except Exception:
                    log.exception("withdrawing network-status failed", extra={"pod": journal.pod.label()})

    def _recompute(self, req: CNIRequest) -> Journal | None:
        """No journal: recompute the plan while the pod's networks are still known."""
        try:
            plan = self.select(req, self.conf)
        except CNIError as exc:
            log.warning("DEL: no journal and the plan cannot be recomputed (%s); nothing to delete", exc.msg,
                        extra={"container": req.container_id, "pod": req.pod_label()})
            return None
        log.warning("DEL: no journal; running DEL for %d recomputed attachment(s)", len(plan),
                    extra={"container": req.container_id, "pod": req.pod_label()})
        return Journal(container_id=req.container_id, netns=req.netns, ifname=req.ifname,
                       pod=PodRef(req.pod_namespace, req.pod_name, req.pod_uid),
                       cni_version=self.conf.cniVersion, cni_args=req.args_raw,
                       entries=[JournalEntry(att, state=RUNNING) for att in plan])

    def _delete_entries(self, journal: Journal, cni_path: Sequence[str], netns: str,
                        persist: bool = True, skip_planned: bool = False) -> list[CNIError]:
        failures: list[CNIError] = []
        todo = [e for e in reversed(journal.entries)
                if not (e.state == DELETED or (skip_planned and e.state == PLANNED))]
        upcoming: Started | None = None
        try:
            upcoming = self._start(journal, todo[0], "DEL", cni_path, netns) if todo else None
            for index, entry in enumerate(todo):
                # each delegate's process starts while the one before it starts up and runs
                current, upcoming = upcoming, (self._start(journal, todo[index + 1], "DEL", cni_path, netns)
                                               if index + 1 < len(todo) else None)
                failures.extend(self._delete_one(journal, entry, cni_path, netns, persist, current))
        finally:
            if upcoming is not None:
                upcoming.cancel()
        return failures

    def _delete_one(self, journal: Journal, entry: JournalEntry, cni_path: Sequence[str], netns: str,
                    persist: bool, ready: Started | None) -> list[CNIError]:
        """DEL of one attachment; its failures (none when it counts as deleted)."""
        att = entry.attachment
        start = time.monotonic()
        try:
            errors = self.delegates.delete(att.netconf(), self._rt(journal, att, netns), cni_path, entry.result,
                                           att.extra, ready)
        except CNIError as exc:
            errors = [exc]
        except Exception as exc:
            log.exception("delegate DEL raised", extra={"network": att.network, "ifname": att.ifname})
            errors = [CNIError(Code.INTERNAL, f"internal error: {exc}")]
        finally:
            if ready is not None:
                ready.cancel()   # unless the delegate's call took it
        self._phase("delegate_del", start, type=_plugin_types(att))
        if errors and entry.state == ADDED:
            return [e.prefixed(self._where(journal, att)) for e in errors]
        if errors:
            # The ADD never completed (or the plan was recomputed): the delegate may have nothing
            # to remove, and some plugins (host-device) fail DEL for a device they never took.
            # Best effort: log it plainly, do not block the pod's teardown forever.
            log.warning("DEL of an attachment whose ADD never completed failed (ignored): %s",
                        "; ".join(e.msg for e in errors),
                        extra={"pod": journal.pod.label(), "network": att.network, "ifname": att.ifname})
        remove_device_info(att)
        entry.state = DELETED
        if persist:
            self.journals.record_or_note(journal, entry)
        return []

    # ---- CHECK ---------------------------------------------------------------------------
    def check(self, req: CNIRequest) -> None:
        if not at_least(self.conf.cniVersion, "0.4.0"):
            raise CNIError(Code.INCOMPATIBLE_VERSION, f"CHECK needs cniVersion 0.4.0 or later, config has "
                           f"{self.conf.cniVersion}")
        with self.journals.container_lock(req.container_id):
            journal = self.journals.load(req.container_id)
            if journal is None:
                raise CNIError(Code.UNKNOWN_CONTAINER, f"CHECK: no attachments recorded for container "
                               f"{req.container_id} ({req.pod_label()})")
            cni_path = self.cni_path(req)
            for entry in journal.entries:
                att = entry.attachment
                if entry.state != ADDED:
                    raise CNIError(Code.UNKNOWN_CONTAINER, f"{self._where(journal, att)}: attachment is "
                                   f"{entry.state}, not added")
                try:
                    self.delegates.check(att.netconf(), self._rt(journal, att, req.netns or journal.netns),
                                         cni_path, entry.result, att.extra)
                except CNIError as exc:
                    raise exc.prefixed(self._where(journal, att)) from exc

    # ---- GC / STATUS ---------------------------------------------------------------------
    def gc(self, req: CNIRequest, stdin_conf: dict[str, Any]) -> list[CNIError]:
        valid = valid_attachments(stdin_conf)  # malformed: a CNI error before anything is deleted
        keep = {(v["containerID"], v["ifname"]) for v in valid}
        keep_ids = {cid for cid, _ in keep}
        errors: list[CNIError] = []
        self.journals.clean_temp_files()
        for cid in self.journals.list_ids():
            try:
                journal = self.journals.load(cid)
            except CNIError as exc:
                errors.append(exc)
                continue
            if journal is None or (cid, journal.ifname) in keep or (cid in keep_ids and not journal.ifname):
                continue
            log.info("GC: deleting stale attachments", extra={"container": cid, "pod": journal.pod.label()})
            stale = CNIRequest(command="DEL", container_id=cid, netns=journal.netns, ifname=journal.ifname,
                               args=parse_cni_args(journal.cni_args), args_raw=journal.cni_args, path=req.path)
            try:
                self.delete(stale)
            except CNIError as exc:
                errors.append(exc)
        errors.extend(self.gc_delegates(req, list(valid)))
        return errors

    def status(self, req: CNIRequest) -> None:
        """STATUS: our own readiness, then the cluster network's when it speaks 1.1.0."""
        reason = self.not_ready_reason()
        if reason:
            raise CNIError(Code.PLUGIN_NOT_AVAILABLE, f"multus-dp is not ready: {reason}")
        config = self.cluster_config(self.conf) if self.cluster_config else None
        if config is None:
            return
        try:
            self.delegates.invoker.status_list(parse_network_config(config), self.cni_path(req))
        except CNIError as exc:
            code = exc.code if exc.code in (Code.PLUGIN_NOT_AVAILABLE, Code.LIMITED_CONNECTIVITY) \
                else Code.PLUGIN_NOT_AVAILABLE
            raise CNIError(code, f"cluster network is not ready: {exc.msg}", exc.details) from exc

    def gc_delegates(self, req: CNIRequest, valid: list[dict[str, Any]]) -> list[CNIError]:
        """GC forwarded to the cluster network's plugins that speak 1.1.0."""
        config = self.cluster_config(self.conf) if self.cluster_config else None
        if config is None:
            return []
        return self.delegates.invoker.gc_list(parse_network_config(config), self.cni_path(req), valid)

    def add_ready_check(self, check: Callable[[], str | None]) -> None:
        self._ready_checks.append(check)

    def not_ready_reason(self) -> str | None:
        indicator = self.conf.readinessindicatorfile
        if indicator and not os.path.exists(indicator):
            return f"readiness indicator file {indicator} does not exist yet"
        for check in self._ready_checks:
            reason = check()
            if reason:
                return reason
        return None


def read_device_info(att: Attachment) -> dict[str, Any] | None:
    """The device-info file a delegate (or the device plugin) wrote for this attachment."""
    path = att.capability_args.get("CNIDeviceInfoFile")
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_device_info(att: Attachment) -> None:
    path = att.capability_args.get("CNIDeviceInfoFile")
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _log_notices(req: CNIRequest, plan: list[Attachment]) -> None:
    """What the pod asked for and does not get (ignored keys, undeclared capabilities)."""
    for att in plan:
        for notice in att.notices:
            log.warning("pod %s: %s", req.pod_label(), notice.message,
                        extra={"pod": req.pod_label(), "network": att.network, "reason": notice.reason})


def _check_attachment_count(req: CNIRequest, plan: list[Attachment], limit: int) -> None:
    if len(plan) > limit:
        raise CNIError(Code.INVALID_CONFIG,
                       f"pod {req.pod_label()}: {len(plan)} network attachments requested (cluster network "
                       f"included), at most maxAttachments={limit} are allowed")


def _check_unique_ifnames(req: CNIRequest, plan: list[Attachment]) -> None:
    seen: dict[str, str] = {}
    for att in plan:
        if att.ifname in seen:
            raise CNIError(Code.INVALID_CONFIG,
                           f"pod {req.pod_label()}: interface name {att.ifname!r} requested by both network "
                           f"{seen[att.ifname]} and network {att.network}")
        seen[att.ifname] = att.network


def _check_plugin_types(req: CNIRequest, plan: list[Attachment]) -> None:
    """Refuse a bad `type` before anything is journaled or executed."""
    for att in plan:
        for plugin in att.netconf().plugins:
            try:
                check_plugin_type(plugin.get("type"))
            except CNIError as exc:
                raise exc.prefixed(f"pod {req.pod_label()}, network {att.network}, interface {att.ifname}") from exc


def _plugin_types(att: Attachment) -> str:
    plugins = att.config.get("plugins") or [att.config]
    return "+".join(str(p.get("type")) for p in plugins)


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """All attachments' results in one, `ips[].interface` re-indexed to the merged list."""
    from multus_dp.cni.versions import LATEST

    merged: dict[str, Any] = {"cniVersion": LATEST, "interfaces": [], "ips": [], "routes": []}
    for index, res in enumerate(results):
        canon = cniresult.convert(res, LATEST) if res.get("cniVersion") else {}
        offset = len(merged["interfaces"])
        merged["interfaces"].extend(canon.get("interfaces") or [])
        for ip in canon.get("ips") or []:
            ip = dict(ip)
            if ip.get("interface") is not None:
                ip["interface"] = ip["interface"] + offset
            merged["ips"].append(ip)
        merged["routes"].extend(canon.get("routes") or [])
        if index == 0 and canon.get("dns"):
            merged["dns"] = canon["dns"]
    return {k: v for k, v in merged.items() if v or k == "cniVersion"}
