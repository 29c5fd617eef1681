"""Node preparation: VFs per PF, VF defaults, vfio-pci for DPDK VFs, hugepages check.

Each PF is planned from what the node has now, so a second run finds nothing to do. A PF
is prepared as a unit: if one of its steps fails, what was already done to it is undone in
reverse order (VF settings put back, vfio bindings restored, `sriov_numvfs` restored) and the
other PFs carry on. The YAML format is documented in docs/hardware.md ("Node preparation").
"""
from __future__ import annotations

import os
import re
import time
from functools import partial
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from multus_dp import logs
from multus_dp.base import defaults
from multus_dp.base.formats import canonical_pci_address, is_mac
from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code
from multus_dp.hardware import pools as pools_mod
from multus_dp.hardware import sysfs
from multus_dp.hardware.allocator import DEFAULT_STATE_DIR, VfAllocator
from multus_dp.hardware.sysfs import PF, NodeModel
from multus_dp.hardware.vfconfig import ZERO_MAC, VfConfigurator, VfSettings, settings_of, stable_mac
from multus_dp.hardware.vfio import VFIO, NetInspector, VfioBinder
from multus_dp.hardware.writer import DeadlineWriter, SysfsWriter

log = logs.get("hardware.nodeprep")


# --- the config (YAML) ------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class VfSettingsSpec(_Strict):
    trust: bool | None = None
    spoofchk: bool | None = None
    mac: str | None = None      # "auto", or an address

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        if not is_mac(value):
            raise ValueError(f"{value!r} is neither a MAC address nor 'auto'")
        return value.lower()


class VfOverride(VfSettingsSpec):
    index: str                  # "3" or "0-3,6"

    @field_validator("index", mode="before")
    @classmethod
    def _index(cls, value: Any) -> str:
        text = str(value)
        pools_mod.parse_indexes(text)
        return text


class DpdkSpec(_Strict):
    pools: list[str] = Field(default_factory=list)   # VFs that land in these pools once on vfio-pci
    indexes: str | None = None                       # and/or these VF indexes

    @field_validator("indexes", mode="before")
    @classmethod
    def _indexes(cls, value: Any) -> str | None:
        if value is None:
            return None
        pools_mod.parse_indexes(str(value))
        return str(value)


class PfSpec(_Strict):
    name: str | None = None
    pciAddress: str | None = None
    numVfs: int = Field(ge=0)
    vfDefaults: VfSettingsSpec = Field(default_factory=VfSettingsSpec)
    vfs: list[VfOverride] = Field(default_factory=list)
    dpdk: DpdkSpec = Field(default_factory=DpdkSpec)

    @field_validator("pciAddress")
    @classmethod
    def _pci_address(cls, value: str | None) -> str | None:
        # written as a user likes ("3b:00.1"); looked up by the kernel's name ("0000:3b:00.1")
        if value is None:
            return None
        canonical = canonical_pci_address(value)
        if canonical is None:
            raise ValueError(f"{value!r} is not a PCI address (like 0000:3b:00.1)")
        return canonical

    @model_validator(mode="after")
    def _one_ref(self) -> "PfSpec":
        if bool(self.name) == bool(self.pciAddress):
            raise ValueError("give a PF either `name` or `pciAddress`")
        return self

    @property
    def ref(self) -> str:
        return self.name or self.pciAddress or "?"


class HugepageSpec(_Strict):
    size: str = "2Mi"
    minFree: int = Field(ge=0)
    numaNode: int | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        hugepage_kb(value)
        return value


class Timeouts(_Strict):
    write: float = Field(default=defaults.SYSFS_WRITE_DEADLINE, gt=0)  # one bind/unbind/driver_override write
    numVfs: float = Field(default=60.0, gt=0)    # the sriov_numvfs write itself
    vfCreate: float = Field(default=30.0, gt=0)  # waiting for virtfnN links after it
    vfProbe: float = Field(default=5.0, ge=0)    # waiting for new VFs' kernel driver


class NodePrepConfig(_Strict):
    sysfsRoot: str = sysfs.DEFAULT_SYSFS_ROOT
    devRoot: str = defaults.DEV_ROOT
    stateDir: str = DEFAULT_STATE_DIR
    allowNoIommu: bool = False
    resourcePrefix: str = pools_mod.DEFAULT_RESOURCE_PREFIX
    pools: dict[str, Any] | None = None
    poolsFile: str | None = None
    hugepages: list[HugepageSpec] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    pfs: list[PfSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_pool_source(self) -> "NodePrepConfig":
        if self.pools is not None and self.poolsFile:
            raise ValueError("give either `pools` or `poolsFile`, not both")
        return self

    def pool_config(self) -> pools_mod.PoolsConfig | None:
        if self.pools is not None:
            return pools_mod.parse(self.pools, source="node-prep pools", default_prefix=self.resourcePrefix)
        if self.poolsFile:
            return pools_mod.load(self.poolsFile, default_prefix=self.resourcePrefix)
        return None


def load_config(path: str) -> NodePrepConfig:
    try:
        with open(path, "rb") as f:
            data = yaml.safe_load(f.read()) or {}
    except OSError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"node-prep config {path} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"node-prep config {path} is not valid YAML: {exc}") from exc
    try:
        return NodePrepConfig.model_validate(data)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"node-prep config {path}: {describe(exc)}") from exc


def hugepage_kb(size: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(Ki|Mi|Gi|kB|KB|K|M|G|MB|GB)?", size.strip())
    if not m:
        raise ValueError(f"hugepage size {size!r}: want e.g. 2Mi or 1Gi")
    unit = (m.group(2) or "kB").upper().rstrip("IB") or "K"
    return int(m.group(1)) * {"K": 1, "M": 1024, "G": 1024 * 1024}[unit[0]]


# --- the run ----------------------------------------------------------------------------------

@dataclass
class PfReport:
    pf: str
    bdf: str | None = None
    status: str = "unchanged"        # unchanged | changed | planned | failed
    actions: list[str] = field(default_factory=list)
    error: str | None = None
    rolled_back: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"pf": self.pf, "bdf": self.bdf, "status": self.status, "actions": self.actions,
                "error": self.error, "rolledBack": self.rolled_back}


@dataclass
class NodePrepReport:
    dry_run: bool
    pfs: list[PfReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)      # node-wide (hugepages, pools)

    @property
    def ok(self) -> bool:
        return not self.problems and all(p.status != "failed" for p in self.pfs)

    @property
    def changed(self) -> bool:
        return any(p.status in ("changed", "planned") for p in self.pfs)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "dryRun": self.dry_run, "changed": self.changed,
                "problems": self.problems, "pfs": [p.to_json() for p in self.pfs]}


class _StepFailed(Exception):
    def __init__(self, step: str, error: CNIError) -> None:
        super().__init__(f"{step}: {error.msg}")
        self.step, self.error = step, error


class NodePrep:
    def __init__(self, config: NodePrepConfig, *, writer: SysfsWriter | None = None,
                 vf_config: VfConfigurator | Callable[[], VfConfigurator] | None = None,
                 net: NetInspector | None = None, force: bool = False, dry_run: bool = False,
                 progress: Callable[[str], None] = lambda line: None) -> None:
        self.config = config
        self.root = config.sysfsRoot
        self.writer = writer or DeadlineWriter()
        self._vf_config = vf_config
        self.force = force
        self.dry_run = dry_run
        self.progress = progress
        self.binder = VfioBinder(self.root, self.writer, config.timeouts.write, allow_noiommu=config.allowNoIommu,
                                 net=net, dev_root=config.devRoot)
        self.pool_config = config.pool_config()

    @property
    def vf_config(self) -> VfConfigurator:
        if self._vf_config is None:
            from multus_dp.hardware.vfconfig import default_configurator
            self._vf_config = default_configurator()
        elif callable(self._vf_config) and not hasattr(self._vf_config, "set_vf"):
            self._vf_config = self._vf_config()
        return self._vf_config  # type: ignore[return-value]

    def run(self) -> NodePrepReport:
        report = NodePrepReport(dry_run=self.dry_run)
        if self.pool_config is not None:
            for warning in self.pool_config.warnings():
                self.progress(f"warning: {warning}")
        model = sysfs.scan(self.root)
        if any(spec.dpdk.pools or spec.dpdk.indexes for spec in self.config.pfs):
            report.problems += self._check_hugepages()
            missing = [p for s in self.config.pfs for p in s.dpdk.pools
                       if self.pool_config is None or p not in self.pool_config.names()]
            if missing:
                report.problems.append(f"dpdk pools {', '.join(sorted(set(missing)))} are not in the pool config")
            for problem in report.problems:
                self.progress(f"error: {problem}")
            if report.problems and not self.dry_run:
                self.progress("nothing was changed")
                return report
        # a dry run goes on past node-wide problems: it reports every problem in one run
        for spec in self.config.pfs:
            report.pfs.append(self._prepare_pf(spec, model))
            model = sysfs.scan(self.root)
        return report

    # --- checks -------------------------------------------------------------------------------
    def _check_hugepages(self) -> list[str]:
        problems = []
        for hp in self.config.hugepages:
            kb = hugepage_kb(hp.size)
            base = os.path.join(self.root, "kernel", "mm", "hugepages") if hp.numaNode is None else \
                os.path.join(self.root, "devices", "system", "node", f"node{hp.numaNode}", "hugepages")
            where = "" if hp.numaNode is None else f" on NUMA node {hp.numaNode}"
            free = sysfs.read_text(os.path.join(base, f"hugepages-{kb}kB", "free_hugepages"))
            if free is None:
                problems.append(f"hugepages: this kernel has no {hp.size} pages{where} ({base}/hugepages-{kb}kB missing)")
            elif int(free) < hp.minFree:
                problems.append(f"hugepages: {free} free {hp.size} pages{where}, DPDK pools need {hp.minFree} "
                                f"(raise vm.nr_hugepages or hugepages= on the kernel command line)")
            else:
                self.progress(f"hugepages: {free} free {hp.size} pages{where} (need {hp.minFree}): ok")
        return problems

    # --- one PF -------------------------------------------------------------------------------
    def _prepare_pf(self, spec: PfSpec, model: NodeModel) -> PfReport:
        pf = model.pf_by_name(spec.ref)
        report = PfReport(pf=spec.ref, bdf=pf.bdf if pf else None)
        say = lambda line: self.progress(f"[{spec.ref}] {line}")  # noqa: E731
        undo: list[tuple[str, Callable[[], None]]] = []
        try:
            if pf is None:
                known = ", ".join(f"{p.netdev or '-'} ({p.bdf})" for p in model.pfs.values() if p.sriov_capable) or "none"
                raise _StepFailed("find PF", CNIError(Code.DEVICE_UNAVAILABLE,
                                                      f"no PF named {spec.ref} on this node; SR-IOV PFs: {known}"))
            self._numvfs(spec, pf, report, undo, say)
            model = sysfs.scan(self.root)
            pf = model.pfs[pf.bdf]
            self._vf_defaults(spec, pf, report, undo, say)
            self._dpdk(spec, pf, model, report, undo, say)
        except _StepFailed as failure:
            report.status = "failed"
            report.error = f"{failure.step}: {failure.error.msg}"
            say(f"FAILED: {report.error}")
            for what, action in reversed(undo):
                try:
                    action()
                    report.rolled_back.append(what)
                    say(f"rolled back: {what}")
                except CNIError as exc:
                    report.rolled_back.append(f"{what}: FAILED ({exc.msg})")
                    say(f"rollback of {what} FAILED: {exc.msg}")
            return report
        if not report.actions:
            say("already as configured: nothing to do")
        else:
            report.status = "planned" if self.dry_run else "changed"
        return report

    def _do(self, report: PfReport, say: Callable[[str], None], what: str, action: Callable[[], None]) -> None:
        report.actions.append(what)
        if self.dry_run:
            say(f"would {what}")
            return
        say(f"{what} ...")
        started = time.monotonic()
        try:
            action()
        except CNIError as exc:
            raise _StepFailed(what, exc) from exc
        say(f"{what}: ok ({time.monotonic() - started:.2f}s)")

    def _on_failure(self, undo: list, what: str, action: Callable[[], None]) -> None:
        """Remember how to undo a step that was done (a dry run does nothing to undo)."""
        if not self.dry_run:
            undo.append((what, action))

    def _numvfs(self, spec: PfSpec, pf: PF, report: PfReport, undo: list, say: Callable[[str], None]) -> None:
        if not pf.sriov_capable and spec.numVfs:
            raise _StepFailed("check PF", CNIError(Code.DEVICE_UNAVAILABLE,
                                                   f"{pf.bdf} is not SR-IOV capable (no sriov_totalvfs)"))
        if spec.numVfs > pf.total_vfs:
            raise _StepFailed("check PF", CNIError(Code.INVALID_CONFIG,
                                                   f"numVfs {spec.numVfs} exceeds sriov_totalvfs {pf.total_vfs}"))
        if pf.num_vfs == spec.numVfs:
            say(f"{pf.num_vfs} VFs: ok")
            return
        if pf.num_vfs and os.path.isdir(os.path.join(self.config.stateDir, "vf")):
            allocator = VfAllocator(self.config.stateDir)
            busy = [b for b in pf.vfs.values() if allocator.in_use(b)]
            if busy and not self.force:
                raise _StepFailed("check PF", CNIError(Code.DEVICE_UNAVAILABLE,
                    f"{len(busy)} of its VFs are allocated to pods ({', '.join(busy[:4])}{'...' if len(busy) > 4 else ''}); "
                    "changing numVfs would destroy them (use --force)"))
        original = pf.num_vfs
        path = os.path.join(sysfs.pci_dir(self.root, pf.bdf), "sriov_numvfs")
        deadline = self.config.timeouts.numVfs
        if original:
            # the kernel refuses a change between two non-zero counts: go through 0
            self._do(report, say, f"set sriov_numvfs {original} -> 0", lambda: self.writer.write(path, "0", deadline))
            self._on_failure(undo, f"sriov_numvfs back to {original}", lambda: self._restore_numvfs(pf.bdf, original))
        if spec.numVfs:
            self._do(report, say, f"set sriov_numvfs -> {spec.numVfs}",
                     lambda: self.writer.write(path, str(spec.numVfs), deadline))
            if not original:
                self._on_failure(undo, "sriov_numvfs back to 0", lambda: self._restore_numvfs(pf.bdf, 0))
            self._do(report, say, f"wait for {spec.numVfs} VFs to appear",
                     lambda: self._wait_for_vfs(pf.bdf, spec.numVfs, pf.drivers_autoprobe))

    def _restore_numvfs(self, pf_bdf: str, count: int) -> None:
        path = os.path.join(sysfs.pci_dir(self.root, pf_bdf), "sriov_numvfs")
        deadline = self.config.timeouts.numVfs
        if sysfs.read_text(path) not in ("0", None):
            self.writer.write(path, "0", deadline)
        if count:
            self.writer.write(path, str(count), deadline)
            self._wait_for_vfs(pf_bdf, count, None)

    def _wait_for_vfs(self, pf_bdf: str, count: int, autoprobe: bool | None) -> None:
        """VF creation is asynchronous: wait for `virtfn0..count-1` (then, briefly, their driver)."""
        end = time.monotonic() + self.config.timeouts.vfCreate
        while True:
            links = sysfs.virtfn_links(self.root, pf_bdf)
            ready = all(i in links and os.path.exists(os.path.join(sysfs.pci_dir(self.root, links[i]), "class"))
                        for i in range(count))
            if ready:
                break
            if time.monotonic() >= end:
                raise CNIError(Code.KERNEL_OPERATION, f"only {len(links)} of {count} VFs appeared within "
                                                      f"{self.config.timeouts.vfCreate:g}s")
            time.sleep(0.02)
        if autoprobe:
            probe_end = time.monotonic() + self.config.timeouts.vfProbe
            while time.monotonic() < probe_end and any(sysfs.driver_of(self.root, b) is None for b in links.values()):
                time.sleep(0.02)

    def _wanted_settings(self, spec: PfSpec, pf: PF) -> dict[int, VfSettingsSpec]:
        out: dict[int, VfSettingsSpec] = {}
        for index in range(spec.numVfs):
            merged = spec.vfDefaults.model_dump()
            for override in spec.vfs:
                if index in pools_mod.parse_indexes(override.index):
                    merged.update({k: v for k, v in override.model_dump(exclude={"index"}).items() if v is not None})
            wanted = VfSettingsSpec(**merged)
            if wanted.trust is not None or wanted.spoofchk is not None or wanted.mac is not None:
                out[index] = wanted
        return out

    def _vf_defaults(self, spec: PfSpec, pf: PF, report: PfReport, undo: list, say: Callable[[str], None]) -> None:
        wanted = self._wanted_settings(spec, pf)
        if not wanted:
            return
        if not pf.netdev:
            raise _StepFailed("VF settings", CNIError(Code.DEVICE_UNAVAILABLE,
                                                      f"{pf.bdf} has no netdev to set VF settings through"))
        try:
            # a dry run that would create the VFs cannot read their settings yet
            creating = self.dry_run and pf.num_vfs != spec.numVfs
            current = {} if creating else dict(settings_of(s) for s in self.vf_config.get_vfs(pf.netdev))
        except CNIError as exc:
            raise _StepFailed(f"read VF settings of {pf.netdev}", exc) from exc
        for index, want in sorted(wanted.items()):
            have = current.get(index, VfSettings())
            change: dict[str, Any] = {}
            if want.trust is not None and have.trust != want.trust:
                change["trust"] = want.trust
            if want.spoofchk is not None and have.spoofchk != want.spoofchk:
                change["spoofchk"] = want.spoofchk
            if want.mac == "auto":
                if have.mac in (None, ZERO_MAC):
                    change["mac"] = stable_mac(pf.bdf, index)
            elif want.mac is not None and have.mac != want.mac:
                change["mac"] = want.mac
            if not change:
                continue
            before = {k: getattr(have, k) for k in change if getattr(have, k) is not None}
            text = ", ".join(f"{k} {_fmt(getattr(have, k))} -> {_fmt(v)}" for k, v in change.items())
            # partial, not a lambda: each step keeps its own index and settings
            self._do(report, say, f"VF {index}: {text}", partial(self.vf_config.set_vf, pf.netdev, index, **change))
            if before:
                self._on_failure(undo, f"VF {index} settings", partial(self.vf_config.set_vf, pf.netdev, index, **before))

    def _dpdk_indexes(self, spec: PfSpec, pf: PF, model: NodeModel) -> set[int]:
        wanted = pools_mod.parse_indexes(spec.dpdk.indexes) if spec.dpdk.indexes else set()
        if spec.dpdk.pools and self.pool_config is not None:
            for vf in model.vfs_of(pf.bdf):
                if self.pool_config.pool_of(model, vf, as_driver=VFIO) in spec.dpdk.pools:
                    wanted.add(vf.index)
        return {i for i in wanted if i < spec.numVfs}

    def _dpdk(self, spec: PfSpec, pf: PF, model: NodeModel, report: PfReport, undo: list,
              say: Callable[[str], None]) -> None:
        indexes = self._dpdk_indexes(spec, pf, model)
        if self.dry_run and spec.numVfs > pf.num_vfs and spec.dpdk.pools:
            say(f"pool membership of the new VFs is known once they exist; VFs by index: {sorted(indexes)}")
        for index in sorted(indexes):
            bdf = pf.vfs.get(index)
            if bdf is None:
                if self.dry_run:
                    report.actions.append(f"bind VF {index} to vfio-pci")
                    say(f"would bind VF {index} to vfio-pci")
                    continue
                raise _StepFailed(f"bind VF {index}", CNIError(Code.DEVICE_UNAVAILABLE, f"VF {index} does not exist"))
            if sysfs.driver_of(self.root, bdf) == VFIO:
                continue
            if not self.dry_run:
                reasons = self.binder.refusals(bdf, self.force)
                if reasons:
                    raise _StepFailed(f"bind VF {index} ({bdf}) to vfio-pci",
                                      CNIError(Code.DEVICE_UNAVAILABLE, "; ".join(reasons)))
            result: dict[str, Any] = {}

            def bind(b: str = bdf, out: dict[str, Any] = result) -> None:
                r = self.binder.bind(b, force=self.force)
                out.update(driver=r.original_driver, override=r.original_override)
            self._do(report, say, f"bind VF {index} ({bdf}) to vfio-pci", bind)
            self._on_failure(undo, f"VF {index} back to {result.get('driver') or 'no driver'}",
                             partial(self._restore_binding, bdf, result))

    def _restore_binding(self, bdf: str, original: dict[str, Any]) -> None:
        """Undo of a bind: `original` is filled in by the bind step when it ran."""
        self.binder.restore(bdf, original.get("driver"), original.get("override"))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "?" if value is None else str(value)
