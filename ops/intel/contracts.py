"""Contract analysis: selectors with state mutability, risk flags, interfaces, compiler, proxy kind.

``analyze(code)`` is the whole per-contract analysis. Selectors and mutability come from evmole
(a symbolic executor in Rust); our own sweep (``ops.intel.evm``) supplies the flags and the
constants that proxy and interface detection read, so evmole runs once per contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ops.intel.evm import risk_flags, scan, to_bytes
from ops.intel.metadata import CompilerInfo, compiler_info
from ops.intel.proxy import ProxyInfo, detect_proxy

ERC20_SELECTORS = frozenset({"18160ddd", "70a08231", "a9059cbb", "23b872dd", "095ea7b3", "dd62ed3e"})
ERC165_SELECTOR = "01ffc9a7"
ERC721_INTERFACE_ID = bytes.fromhex("80ac58cd")
ERC721_SELECTORS = frozenset({"6352211e", "42842e0e", "b88d4fde", "a22cb465", "081812fc", "e985e9c5"})
ERC1155_INTERFACE_ID = bytes.fromhex("d9b67a26")
ERC1155_SELECTORS = frozenset({"f242432a", "2eb2c2d6", "4e1273f4", "00fdd58e", "a22cb465", "e985e9c5"})

#: Flags that make a contract risky on their own; DELEGATECALL only when the contract is no proxy
#: (forwarding is what a proxy is for), CREATE2 never (factories use it every day).
RISKY_ALWAYS = ("selfdestruct", "callcode", "origin")


@dataclass
class ContractAnalysis:
    code_size: int
    code_hash: str
    instructions: int
    selectors: list[dict[str, str | None]]
    flags: dict[str, bool]
    interfaces: list[str]
    compiler: CompilerInfo
    proxy: ProxyInfo
    risk_reasons: list[str] = field(default_factory=list)

    @property
    def risky(self) -> bool:
        return bool(self.risk_reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code_size": self.code_size,
            "code_hash": self.code_hash,
            "instructions": self.instructions,
            "proxy": self.proxy.as_dict(),
            "selectors": self.selectors,
            "flags": self.flags,
            "interfaces": self.interfaces,
            "compiler": self.compiler.as_dict(),
            "risky": self.risky,
            "risk_reasons": self.risk_reasons,
        }


def interfaces_of(selectors: set[str], push4: frozenset[bytes]) -> list[str]:
    """ERC-20 by its six functions; ERC-721 and ERC-1155 by ERC-165 ``supportsInterface`` naming their id."""
    found = []
    if ERC20_SELECTORS <= selectors:
        found.append("erc20")
    if ERC165_SELECTOR in selectors:
        found.append("erc165")
        if ERC721_INTERFACE_ID in push4 and len(ERC721_SELECTORS & selectors) >= 4:
            found.append("erc721")
        if ERC1155_INTERFACE_ID in push4 and len(ERC1155_SELECTORS & selectors) >= 4:
            found.append("erc1155")
    return found


def analyze(code: str | bytes) -> ContractAnalysis:
    """The analysis of one contract's runtime bytecode (hex or bytes)."""
    import evmole
    from eth_hash.auto import keccak

    raw = to_bytes(code)
    compiler = compiler_info(raw)
    body = raw[: compiler.metadata_offset] if compiler.metadata_offset is not None else raw
    found = scan(body)
    proxy = detect_proxy(raw, found)
    selectors: list[dict[str, str | None]] = []
    if raw and proxy.kind != "eip1167":  # a clone has no functions of its own: all calls forward
        info = evmole.contract_info(raw, selectors=True, state_mutability=True)
        selectors = sorted(
            ({"selector": f.selector, "state_mutability": f.state_mutability} for f in info.functions or []),
            key=lambda s: s["selector"],
        )
    flags = risk_flags(found)
    reasons = [flag for flag in RISKY_ALWAYS if flags[flag]]
    if flags["delegatecall"] and not proxy.is_proxy:
        reasons.append("delegatecall")
    return ContractAnalysis(
        code_size=len(raw),
        code_hash="0x" + keccak(raw).hex(),
        instructions=found.instructions,
        selectors=selectors,
        flags=flags,
        interfaces=interfaces_of({s["selector"] for s in selectors}, found.push4),
        compiler=compiler,
        proxy=proxy,
        risk_reasons=reasons,
    )


#: One row per analysed contract (the `contract_analysis` table). Key: address.
CONTRACT_ANALYSIS_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    "block_number": pl.Int64,  # creating block; null for an implementation fetched from the node
    "analysed_as": pl.Utf8,  # "contract" | "implementation" (found behind a proxy)
    "code_size": pl.Int64,
    "code_hash": pl.Utf8,
    "instructions": pl.Int64,
    "selector_count": pl.Int64,
    "selectors": pl.Utf8,  # JSON: [{"selector", "state_mutability"}]
    "interfaces": pl.Utf8,  # comma-joined: erc20, erc165, erc721, erc1155
    "compiler": pl.Utf8,
    "compiler_version": pl.Utf8,
    "has_selfdestruct": pl.Boolean,
    "has_delegatecall": pl.Boolean,
    "has_callcode": pl.Boolean,
    "has_create2": pl.Boolean,
    "has_origin": pl.Boolean,
    "proxy_kind": pl.Utf8,
    "proxy_slot": pl.Utf8,
    "implementation": pl.Utf8,
    "beacon": pl.Utf8,
    "risky": pl.Boolean,
    "risk_reasons": pl.Utf8,  # comma-joined
}
CONTRACT_ANALYSIS_KEY = ("address",)


def analysis_row(
    address: str,
    result: ContractAnalysis,
    *,
    block_number: int | None = None,
    analysed_as: str = "contract",
    implementation: str | None = None,
    beacon: str | None = None,
) -> dict[str, Any]:
    """One `contract_analysis` row."""
    return {
        "address": address.lower(),
        "block_number": block_number,
        "analysed_as": analysed_as,
        "code_size": result.code_size,
        "code_hash": result.code_hash,
        "instructions": result.instructions,
        "selector_count": len(result.selectors),
        "selectors": json.dumps(result.selectors),
        "interfaces": ",".join(result.interfaces),
        "compiler": result.compiler.name,
        "compiler_version": result.compiler.version,
        **{f"has_{flag}": value for flag, value in result.flags.items()},
        "proxy_kind": result.proxy.kind,
        "proxy_slot": result.proxy.slot,
        "implementation": implementation or result.proxy.target,
        "beacon": beacon,
        "risky": result.risky,
        "risk_reasons": ",".join(result.risk_reasons),
    }


def analysis_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CONTRACT_ANALYSIS_SCHEMA)
