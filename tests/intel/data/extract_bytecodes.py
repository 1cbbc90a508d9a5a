"""Rebuild ``bytecodes.jsonl``: real proxy and non-proxy bytecode, labelled by what its source says it is.

Compiled artifacts come from npm packages (``npm pack`` into a scratch folder outside the repo);
the clone libraries that ship no artifact (Solady LibClone, wighawag's clones-with-immutable-args)
are assembled from the exact bytes their source documents, by replaying the library's own
``mstore`` sequence; the EIP-1822 reference proxy is compiled from the EIP's text with the npm
``solc`` package. Labels are written here by hand from the sources, never from the detector.

Usage: python tests/intel/data/extract_bytecodes.py /tmp/bytecodes   (needs npm and node)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "bytecodes.jsonl"

EIP1967_IMPL = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
EIP1967_BEACON = "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50"
EIP1822 = "0xc5f16f0fcc639fa48a6947836d9850f504798523bf8c9a3a87d5876cf622bcf7"
ZOS = "0x7050c9e0f4ca769c69bd3a8ef740bc37934f8e2c036e5a723fd8ee048ed3f8c3"
SLOT0 = "0x" + "00" * 32
BE = "0x" + "be" * 20  # the placeholder target the clone sources themselves use
BE16 = "0x" + "00" * 4 + "be" * 16  # a vanity target with four leading zero bytes (PUSH16)
BEEF = "0x" + "beef" * 10

PACKAGES = {
    "oz": "@openzeppelin/contracts@4.9.6",
    "ozup": "@openzeppelin/upgrades@2.8.0",
    "zos": "zos-lib@2.4.3",
    "safe": "@gnosis.pm/safe-contracts@1.3.0",
    "uni": "@uniswap/v2-core@1.0.1",
    "cf012": "@optionality.io/clone-factory@0.1.2",
    "cf016": "@optionality.io/clone-factory@0.1.6",
    "cf018": "@optionality.io/clone-factory@0.1.8",
    "cwia": "clones-with-immutable-args@2.0.2",
    "solady": "solady@0.1.26",
    "aa": "@account-abstraction/contracts@0.6.0",
    "sf": "@superfluid-finance/ethereum-contracts@1.9.0",
}
LICENSES = {
    "oz": "MIT", "ozup": "MIT", "zos": "MIT", "safe": "GPL-3.0", "uni": "GPL-3.0-or-later", "cf012": "MIT",
    "cf016": "MIT", "cf018": "MIT", "cwia": "BSD-3-Clause", "solady": "MIT", "aa": "MIT",
    "sf": "AGPL-3.0-or-later OR MIT",
}


def unpack(work: Path) -> dict[str, Path]:
    roots = {}
    for key, spec in PACKAGES.items():
        root = work / key
        if not (root / "package").is_dir():
            root.mkdir(parents=True, exist_ok=True)
            name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=root, check=True, capture_output=True,
                                  text=True).stdout.split()[-1]
            with tarfile.open(root / name) as tar:
                tar.extractall(root, filter="data")
        roots[key] = root / "package"
    return roots


def artifact(path: Path) -> tuple[str, str]:
    """(creation, runtime) hex of a truffle, hardhat or waffle artifact."""
    data = json.loads(path.read_text())
    creation, runtime = data.get("bytecode"), data.get("deployedBytecode")
    if "evm" in data:
        creation, runtime = data["evm"]["bytecode"]["object"], data["evm"]["deployedBytecode"]["object"]
    creation, runtime = (c.get("object") if isinstance(c, dict) else c for c in (creation, runtime))
    return "0x" + creation.removeprefix("0x"), "0x" + runtime.removeprefix("0x")


class Memory:
    """EVM memory for replaying a library's ``mstore`` sequence byte for byte."""

    def __init__(self) -> None:
        self.data = bytearray(0x400)

    def mstore(self, offset: int, value: int) -> None:
        self.data[offset : offset + 32] = (value % (1 << 256)).to_bytes(32, "big")

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset : offset + size])


def solady(implementation: str, args: bytes) -> dict[str, str]:
    """LibClone's initCode* functions (solady 0.1.26), replayed with c = 0x100."""
    impl = int(implementation, 16)
    c, out = 0x100, {}
    m = Memory()  # initCode(address): the 0age minimal proxy
    m.mstore(c + 0x40, 0x5AF43D3D93803E602A57FD5BF30000000000000000000000)
    m.mstore(c + 0x28, impl)
    m.mstore(c + 0x14, 0x602C3D8160093D39F33D3D3D3D363D3D37363D73)
    out["clone"] = m.read(c + 0x20, 0x35)
    m = Memory()  # initCode_PUSH0(address)
    m.mstore(c + 0x40, 0x5AF43D5F5F3E6029573D5FFD5B3D5FF300000000000000000000)
    m.mstore(c + 0x26, impl)
    m.mstore(c + 0x12, 0x602D5F8160095F39F35F5F365F5F37365F73)
    out["clone_PUSH0"] = m.read(c + 0x20, 0x36)
    m = Memory()  # initCode(address, bytes): clones with immutable args
    n = len(args)
    m.data[c + 0x57 : c + 0x57 + n] = args
    m.mstore(c + 0x37, 0x5AF43D82803E903D91602B57FD5BF3)
    m.mstore(c + 0x28, impl)
    m.mstore(c + 0x14, 0x61002D3D81600A3D39F3363D3D373D3D3D363D73 + (n << 136))
    out["clone_args"] = m.read(c + 0x20, 0x37 + n)
    m = Memory()  # initCodeERC1967(address)
    m.mstore(c + 0x60, 0x3735A920A3CA505D382BBC545AF43D6000803E6038573D6000FD5B3D6000F300)
    m.mstore(c + 0x40, 0x55F3363D3D373D3D363D7F360894A13BA1A3210667C828492DB98DCA3E2076CC)
    m.mstore(c + 0x20, (impl << 24) | 0x600951)
    m.mstore(c + 0x09, 0x603D3D8160223D3973)
    out["erc1967"] = m.read(c + 0x20, 0x5F)
    m = Memory()  # initCodeERC1967BeaconProxy(address beacon)
    m.mstore(c + 0x74, 0xB3582B35133D50545AFA5036515AF43D6000803E604D573D6000FD5B3D6000F3)
    m.mstore(c + 0x54, 0x1B60E01B36527FA3F0AD74E5423AEBFD80D3EF4346578335A9A72AEAEE59FF6C)
    m.mstore(c + 0x34, 0x60195155F3363D3D373D3D363D602036600436635C60DA)
    m.mstore(c + 0x1D, impl)
    m.mstore(c + 0x09, 0x60523D8160223D3973)
    m.mstore(c + 0x94, 0)
    out["erc1967_beacon"] = m.read(c + 0x20, 0x74)
    return {k: "0x" + v.hex() for k, v in out.items()}


def wighawag_cwia(implementation: str, data: bytes) -> str:
    """ClonesWithImmutableArgs.clone's creation code (2.0.2), replayed from its ``mstore`` sequence."""
    extra = len(data) + 2
    creation_size, run_size = 0x41 + extra, 0x37 + extra
    m, ptr = Memory(), 0x100
    m.mstore(ptr, 0x61 << 248)
    m.mstore(ptr + 0x01, run_size << 240)
    m.mstore(ptr + 0x03, 0x3D81600A3D39F33D3D3D3D363D3D376100000000000000000000000000000000)
    m.mstore(ptr + 0x13, extra << 240)
    m.mstore(ptr + 0x15, 0x6037363936610000000000000000000000000000000000000000000000000000)
    m.mstore(ptr + 0x1B, extra << 240)
    m.mstore(ptr + 0x1D, 0x013D730000000000000000000000000000000000000000000000000000000000)
    m.mstore(ptr + 0x20, int(implementation, 16) << 0x60)
    m.mstore(ptr + 0x34, 0x5AF43D3D93803E603557FD5BF300000000000000000000000000000000000000)
    m.data[ptr + 0x41 : ptr + 0x41 + len(data)] = data
    m.mstore(ptr + 0x41 + len(data), len(data) << 240)
    return "0x" + m.read(ptr, creation_size).hex()


def eip1822(work: Path) -> tuple[str, str, str]:
    """The EIP-1822 text's "ERC-20 Token / Proxy Contract", compiled with npm solc 0.5.17 (optimizer on)."""
    folder = work / "solc0517"
    folder.mkdir(exist_ok=True)
    if not (folder / "node_modules" / "solc").is_dir():
        subprocess.run(["npm", "install", "--silent", "--prefix", str(folder), "solc@0.5.17"], check=True)
    (folder / "Proxy.sol").write_text(EIP1822_SOURCE)
    script = (
        "const solc=require('solc');const fs=require('fs');"
        "const i={language:'Solidity',sources:{'Proxy.sol':{content:fs.readFileSync('Proxy.sol','utf8')}},"
        "settings:{optimizer:{enabled:true,runs:200},outputSelection:{'*':{'*':['evm.bytecode.object',"
        "'evm.deployedBytecode.object']}}}};const o=JSON.parse(solc.compile(JSON.stringify(i)));"
        "const c=o.contracts['Proxy.sol'].Proxy.evm;"
        "console.log(JSON.stringify([solc.version(),c.bytecode.object,c.deployedBytecode.object]));"
    )
    version, creation, runtime = json.loads(
        subprocess.run(["node", "-e", script], cwd=folder, check=True, capture_output=True, text=True).stdout
    )
    return version, "0x" + creation, "0x" + runtime


EIP1822_SOURCE = """pragma solidity ^0.5.1;

contract Proxy {
    // Code position in storage is keccak256("PROXIABLE") = "0xc5f16f0fcc639fa48a6947836d9850f504798523bf8c9a3a87d5876cf622bcf7"
    constructor(bytes memory constructData, address contractLogic) public {
        // save the code address
        assembly { // solium-disable-line
            sstore(0xc5f16f0fcc639fa48a6947836d9850f504798523bf8c9a3a87d5876cf622bcf7, contractLogic)
        }
        (bool success, bytes memory _ ) = contractLogic.delegatecall(constructData); // solium-disable-line
        require(success, "Construction failed");
    }

    function() external payable {
        assembly { // solium-disable-line
            let contractLogic := sload(0xc5f16f0fcc639fa48a6947836d9850f504798523bf8c9a3a87d5876cf622bcf7)
            calldatacopy(0x0, 0x0, calldatasize)
            let success := delegatecall(sub(gas, 10000), contractLogic, 0x0, calldatasize, 0, 0)
            let retSz := returndatasize
            returndatacopy(0, 0, retSz)
            switch success
            case 0 {
                revert(0, retSz)
            }
            default {
                return(0, retSz)
            }
        }
    }
}
"""


def solidity_hex(path: Path, marker: str) -> str:
    """The hex"..." literal on the line of `path` that contains `marker`."""
    for line in path.read_text().splitlines():
        if marker in line and 'hex"' in line:
            return "0x" + line.split('hex"', 1)[1].split('"', 1)[0]
    raise LookupError(f"{marker} not in {path}")


def records(work: Path) -> list[dict]:
    roots = unpack(work)
    rows: list[dict] = []

    def add(name, kind, form, code, pkg, path, *, target=None, slot=None, note=""):
        rows.append({"name": name, "kind": kind, "target": target, "slot": slot, "form": form, "hex": code,
                     "source": PACKAGES.get(pkg, pkg), "path": path, "license": LICENSES.get(pkg, "CC0-1.0"),
                     "note": note})

    def both(name, kind, pkg, rel, *, target=None, slot=None, note="", forms=("runtime", "creation")):
        creation, runtime = artifact(roots[pkg] / rel)
        for form in forms:
            add(f"{name} ({form})", kind, form, runtime if form == "runtime" else creation, pkg, rel,
                target=target, slot=slot, note=note)

    # --- minimal proxies: EIP-1167 and the forwarders before it --------------------------------------------
    probe = "contracts/ContractProbe.sol"
    add("EIP-1167 clone (runtime, ContractProbe template)", "eip1167", "runtime",
        solidity_hex(roots["cf018"] / probe, "bytes memory clone"), "cf018", probe, target=BE)
    add("EIP-1167 clone (creation, CloneFactory)", "eip1167", "creation",
        solidity_hex(roots["cf018"] / "contracts/CloneFactory.sol", "bytes memory clone"), "cf018",
        "contracts/CloneFactory.sol", target=BE)
    add("EIP-1167 vanity PUSH16 clone (creation, CloneFactory16)", "eip1167", "creation",
        solidity_hex(roots["cf018"] / "contracts/CloneFactory16.sol", "bytes memory clone"), "cf018",
        "contracts/CloneFactory16.sol", target=BE16, note="the EIP's vanity address optimization")
    add("pre-EIP-1167 clone (runtime, ContractProbe template)", "fixed", "runtime",
        solidity_hex(roots["cf016"] / probe, "bytes memory clone"), "cf016", probe, target=BE)
    add("pre-EIP-1167 clone (creation, CloneFactory)", "fixed", "creation",
        solidity_hex(roots["cf016"] / "contracts/CloneFactory.sol", "bytes memory clone"), "cf016",
        "contracts/CloneFactory.sol", target=BE)
    add("pre-EIP-1167 PUSH16 clone (creation, CloneFactory16)", "fixed", "creation",
        solidity_hex(roots["cf016"] / "contracts/CloneFactory16.sol", "bytes memory clone"), "cf016",
        "contracts/CloneFactory16.sol", target=BE16)
    add("first clone-factory forwarder (creation, CloneFactory)", "fixed", "creation",
        solidity_hex(roots["cf012"] / "contracts/CloneFactory.sol", "bytes memory clone"), "cf012",
        "contracts/CloneFactory.sol", target=BEEF, note="PUSH20 0xbeef..beef is the source's template target")

    args = (42).to_bytes(32, "big") + bytes.fromhex("11" * 20)
    lib = "src/utils/LibClone.sol"
    built = "assembled from the bytes the source documents (its initCode mstore sequence), target " + BE
    codes = solady(BE, args)
    add("Solady LibClone 0age clone (creation)", "fixed", "creation", codes["clone"], "solady", lib,
        target=BE, note=built)
    add("Solady LibClone 0age clone (runtime)", "fixed", "runtime", "0x" + codes["clone"][2 + 18:], "solady", lib,
        target=BE, note=built + "; runtime = creation after its 9-byte prefix")
    add("Solady LibClone PUSH0 clone (creation)", "fixed", "creation", codes["clone_PUSH0"], "solady", lib,
        target=BE, note=built)
    add("Solady LibClone clone with immutable args (creation)", "fixed", "creation", codes["clone_args"], "solady",
        lib, target=BE, note=built + "; args = abi.encode(42) ++ 0x11*20")
    add("Solady LibClone clone with immutable args (runtime)", "fixed", "runtime", "0x" + codes["clone_args"][2 + 20:],
        "solady", lib, target=BE, note=built + "; runtime = creation after its 10-byte prefix")
    add("Solady LibClone minimal ERC1967 proxy (creation)", "eip1967", "creation", codes["erc1967"], "solady", lib,
        slot=EIP1967_IMPL, note=built)
    add("Solady LibClone minimal ERC1967 beacon proxy (creation)", "eip1967_beacon", "creation",
        codes["erc1967_beacon"], "solady", lib, slot=EIP1967_BEACON, note=built.replace("target", "beacon"))
    cwia = wighawag_cwia(BE, args)
    note = "assembled from the bytes ClonesWithImmutableArgs.clone documents, target " + BE
    add("clones-with-immutable-args clone (creation)", "fixed", "creation", cwia, "cwia",
        "ClonesWithImmutableArgs.sol", target=BE, note=note + "; data = abi.encode(42) ++ 0x11*20")
    add("clones-with-immutable-args clone (runtime)", "fixed", "runtime", "0x" + cwia[2 + 20:], "cwia",
        "ClonesWithImmutableArgs.sol", target=BE, note=note + "; runtime = creation after its 10-byte prefix")

    # --- upgradeable proxies --------------------------------------------------------------------------------
    oz = "build/contracts/"
    both("OpenZeppelin ERC1967Proxy", "eip1967", "oz", oz + "ERC1967Proxy.json", slot=EIP1967_IMPL)
    both("OpenZeppelin TransparentUpgradeableProxy", "eip1967", "oz", oz + "TransparentUpgradeableProxy.json",
         slot=EIP1967_IMPL)
    both("OpenZeppelin BeaconProxy", "eip1967_beacon", "oz", oz + "BeaconProxy.json", slot=EIP1967_BEACON)
    both("OpenZeppelin Upgrades AdminUpgradeabilityProxy", "eip1967", "ozup", oz + "AdminUpgradeabilityProxy.json",
         slot=EIP1967_IMPL, forms=("runtime",))
    both("ZeppelinOS AdminUpgradeabilityProxy", "zeppelinos", "zos", oz + "AdminUpgradeabilityProxy.json", slot=ZOS)
    both("ZeppelinOS InitializableUpgradeabilityProxy", "zeppelinos", "zos",
         oz + "InitializableUpgradeabilityProxy.json", slot=ZOS, forms=("runtime",))
    safe = "build/artifacts/contracts/"
    both("GnosisSafeProxy", "safe", "safe", safe + "proxies/GnosisSafeProxy.sol/GnosisSafeProxy.json", slot=SLOT0)
    both("Superfluid UUPSProxy", "eip1967", "sf", "build/hardhat/contracts/upgradability/UUPSProxy.sol/UUPSProxy.json",
         slot=EIP1967_IMPL, forms=("runtime",))
    version, creation, runtime = eip1822(work)
    for form, code in (("runtime", runtime), ("creation", creation)):
        add(f"EIP-1822 reference Proxy ({form})", "eip1822", form, code, "EIP-1822 (ethereum/EIPs)", "EIPS/eip-1822.md",
            slot=EIP1822, note=f"compiled here from the EIP's text with npm solc@{version.split('+')[0]} (optimizer on)")

    # --- not proxies -----------------------------------------------------------------------------------------
    both("OpenZeppelin ERC20PresetMinterPauser", None, "oz", oz + "ERC20PresetMinterPauser.json")
    both("OpenZeppelin UpgradeableBeacon (the beacon, not a proxy)", None, "oz", oz + "UpgradeableBeacon.json",
         forms=("runtime",))
    both("OpenZeppelin ProxyAdmin", None, "oz", oz + "ProxyAdmin.json", forms=("runtime",))
    both("Uniswap V2 Pair", None, "uni", "build/UniswapV2Pair.json")
    both("Uniswap V2 ERC20", None, "uni", "build/UniswapV2ERC20.json", forms=("runtime",))
    both("Uniswap V2 Factory (embeds the pair's creation code)", None, "uni", "build/UniswapV2Factory.json",
         forms=("runtime",))
    both("eth-infinitism SimpleAccount (a UUPS implementation)", None, "aa", "artifacts/SimpleAccount.json",
         forms=("runtime",), note="immutables (entryPoint, __self) are zero in the artifact")
    both("eth-infinitism SimpleAccountFactory (embeds ERC1967Proxy creation code)", None, "aa",
         "artifacts/SimpleAccountFactory.json", forms=("runtime",), note="immutable accountImplementation is zero in the artifact")
    both("GnosisSafe singleton (DELEGATECALLs a caller-given address)", None, "safe",
         safe + "GnosisSafe.sol/GnosisSafe.json", forms=("runtime",))
    both("GnosisSafeProxyFactory (embeds the proxy's creation code)", None, "safe",
         safe + "proxies/GnosisSafeProxyFactory.sol/GnosisSafeProxyFactory.json", forms=("runtime",))
    both("Safe MultiSend (DELEGATECALLs caller-given addresses)", None, "safe",
         safe + "libraries/MultiSend.sol/MultiSend.json", forms=("runtime",), note="immutable multisendSingleton is zero in the artifact")
    both("ZeppelinOS ProxyFactory (deploys proxies and clones)", None, "zos", oz + "ProxyFactory.json",
         forms=("runtime",))
    both("ZeppelinOS App (creates proxies)", None, "zos", oz + "App.json", forms=("runtime",))
    both("Superfluid host (a UUPSProxiable implementation that creates UUPSProxy)", None, "sf",
         "build/hardhat/contracts/superfluid/Superfluid.sol/Superfluid.json", forms=("runtime",),
         note="immutables zero in the artifact")
    return rows


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bytecodes").resolve()
    if HERE in work.parents or work == HERE:
        raise SystemExit("unpack the packages outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    rows = records(work)
    for row in rows:
        bytes.fromhex(row["hex"][2:])  # every record is plain hex: no unlinked library placeholders
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"{len(rows)} records -> {OUT}")


if __name__ == "__main__":
    main()
