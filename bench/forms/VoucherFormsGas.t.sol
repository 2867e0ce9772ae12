// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "hardhat/console.sol";

import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";
import {
    CommitmentFormSettlement,
    PayeeBoundSettlementBase,
    TrackFormSettlement
} from "./VoucherFormsPrototypes.sol";

/// @dev The one cheatcode this file needs beyond base/Vm.sol: the gas of the last call, from the
/// callee's side (execution only: no intrinsic 21,000, no calldata, no CALL cost).
interface VmGas {
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    function lastCallGas() external view returns (Gas memory);
}

VmGas constant vmGas = VmGas(address(uint160(uint256(keccak256("hevm cheat code")))));

/// @dev Appends to a preallocated byte buffer.
library Packer {
    struct Buf {
        bytes data;
        uint256 length;
    }

    function create(uint256 capacity) internal pure returns (Buf memory b) {
        b.data = new bytes(capacity);
    }

    function u8(Buf memory b, uint256 v) internal pure {
        _put(b, v << 248, 1);
    }

    function addr(Buf memory b, address a) internal pure {
        _put(b, uint256(uint160(a)) << 96, 20);
    }

    function u128(Buf memory b, uint256 v) internal pure {
        require(v <= type(uint128).max, "u128");
        _put(b, v << 128, 16);
    }

    function b32(Buf memory b, bytes32 v) internal pure {
        _put(b, uint256(v), 32);
    }

    function _put(Buf memory b, uint256 word, uint256 size) private pure {
        bytes memory data = b.data;
        uint256 at = b.length;
        require(at + size <= data.length, "buffer full");
        assembly ("memory-safe") {
            let ptr := add(add(data, 0x20), at)
            // Keep whatever follows: the buffer is written left to right, so that is still zero.
            mstore(ptr, word)
        }
        b.length = at + size;
    }

    function done(Buf memory b) internal pure returns (bytes memory data) {
        data = b.data;
        uint256 length = b.length;
        assembly ("memory-safe") {
            mstore(data, length)
        }
    }
}

/// @title Gas of a settlement week with vouchers that name their provider (issue 13), two forms.
/// @notice The week: 100 agents x 50 calls of 0.01 USDC over 10 providers (each agent pays each
/// provider 5 calls): 5,000 paid calls, settled in one batch.
///  (A) track form: one voucher and one claim per (account, signer, provider): 1,000 claims.
///  (B) commitment form: one signed commitment per (account, signer) over its per-provider
///      totals: 100 claims of 10 entries. `packed`: the owner's track hash shares the account slot.
/// Scenarios: WEEK1 (no track exists yet, providers never credited), STEADY (week 2: the same
/// tracks, settled the week before), GROWTH (every agent paid 50 distinct providers in an earlier
/// week, 1 call each, and pays only 10 of them this week, 5 calls each: (A) claims the 10 active
/// tracks, (B)'s claims carry all 50 entries). (A)'s week 1 is also measured as the two
/// transactions it takes under the 2^24 transaction gas cap (WEEK1 as one is over it).
///
/// Each test settles in its own transaction, after a setUp whose state changes are committed, so
/// every slot is cold as in a real week. It prints one `voucher-forms` line: the settle's execution
/// gas (callee side, which is all a test call pays) and the byte counts of its calldata. A real
/// transaction pays 21,000 and the calldata (4 per zero byte, 16 per other byte) on top:
/// bench/voucher-forms.ts runs this file, adds them and the providers' withdrawals, and writes
/// voucher-forms.json; bench/voucher-forms-crosscheck.ts checks the sum against real receipts.
abstract contract VoucherFormsBench is TestBase {
    using Packer for Packer.Buf;

    enum Form {
        Track,
        Commitment
    }

    enum Scenario {
        Week1,
        Steady,
        Growth,
        // Week 1 of the track form in two transactions of 50 agents each: as one it passes the
        // 2^24 transaction gas cap (EIP-7825, on Base since Azul).
        Week1FirstHalf,
        Week1SecondHalf
    }

    uint256 internal constant AGENTS = 100;
    uint256 internal constant WEEK_PROVIDERS = 10;
    uint256 internal constant PAST_PROVIDERS = 50;
    uint256 internal constant CALLS_PER_PAIR = 5;
    uint256 internal constant PRICE = 10_000; // 0.01 USDC
    uint16 internal constant FEE_BPS = 100;
    uint256 internal constant FUND = 5_000_000;

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant TRACK_VOUCHER_TYPEHASH =
        keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)");
    bytes32 internal constant COMMITMENT_TYPEHASH = keccak256(
        "Voucher(address account,address signer,Entry[] entries)Entry(address provider,uint256 maxCumulative)"
    );
    bytes32 internal constant ENTRY_TYPEHASH = keccak256("Entry(address provider,uint256 maxCumulative)");

    address internal settler = address(0x5E77);
    PayeeBoundSettlementBase internal settlement;
    bytes32 internal domainSeparator;
    uint256[] internal agentKeys;
    address[] internal agents;
    /// @dev Every provider of the scenario, ascending.
    address[] internal providers;
    /// @dev The claimed total of agent a on provider k (index into `providers`), as settled so far.
    mapping(uint256 agent => mapping(uint256 provider => uint256)) internal claimed;

    function form() internal pure virtual returns (Form);
    function packed() internal pure virtual returns (bool);
    function withLog() internal pure virtual returns (bool);
    function scenario() internal pure virtual returns (Scenario);
    function label() internal pure virtual returns (string memory);

    function setUp() public {
        if (form() == Form.Track) {
            settlement = new TrackFormSettlement(settler, FEE_BPS, withLog());
        } else {
            settlement = new CommitmentFormSettlement(settler, FEE_BPS, withLog(), packed());
        }
        domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("AgentTab Escrow"), keccak256("1"), block.chainid, address(settlement))
        );
        assertEq(settlement.domainSeparator(), domainSeparator, "domain separator");

        for (uint256 a; a < AGENTS; ++a) {
            uint256 key = uint256(keccak256(abi.encode("voucher forms agent", a)));
            agentKeys.push(key);
            agents.push(vm.addr(key));
            settlement.fund(vm.addr(key), FUND);
        }
        uint256 providerCount = scenario() == Scenario.Growth ? PAST_PROVIDERS : WEEK_PROVIDERS;
        address[] memory ps = new address[](providerCount);
        for (uint256 k; k < providerCount; ++k) {
            ps[k] = address(uint160(uint256(keccak256(abi.encode("voucher forms provider", k)))));
        }
        _sort(ps);
        for (uint256 k; k < providerCount; ++k) {
            providers.push(ps[k]);
        }

        if (scenario() == Scenario.Week1SecondHalf) {
            _settleWeek(keccak256("week 1, first half"), _allProviders(), CALLS_PER_PAIR, 0, AGENTS / 2);
        } else if (scenario() == Scenario.Steady) {
            // Week 1, as the WEEK1 scenario measures it.
            _settleWeek(keccak256("week 1"), _allProviders(), CALLS_PER_PAIR, 0, AGENTS);
        } else if (scenario() == Scenario.Growth) {
            // An earlier week: every agent paid each of the 50 providers once. Settled in slices
            // of 10 agents (5,000 track claims would be one very large transaction).
            for (uint256 a; a < AGENTS; a += 10) {
                _settleWeek(keccak256(abi.encode("past week", a)), _allProviders(), 1, a, a + 10);
            }
        }
    }

    /// @notice Settles this week's batch, prints the measurement, checks the outcome.
    function test_measure() public {
        uint256[] memory active = _weekProviders();
        (uint256 fromAgent, uint256 toAgent) = scenario() == Scenario.Week1FirstHalf
            ? (0, AGENTS / 2)
            : scenario() == Scenario.Week1SecondHalf ? (AGENTS / 2, AGENTS) : (0, AGENTS);
        (bytes memory data, uint256 claims, uint256 entries) = _buildWeek(active, CALLS_PER_PAIR, fromAgent, toAgent);
        bytes32 batchId = keccak256("this week");
        // Nothing of the settlement's state is read before the call: that would warm its slots.

        vm.prank(settler);
        bool applied = settlement.settle(batchId, data);
        VmGas.Gas memory gas = vmGas.lastCallGas();
        assertTrue(applied, "applied");

        bytes memory callData = abi.encodeCall(PayeeBoundSettlementBase.settle, (batchId, data));
        (uint256 zeros, uint256 nonzeros) = _countBytes(callData);
        console.log(
            string.concat(
                "voucher-forms {\"variant\":\"",
                label(),
                "\",\"scenario\":\"",
                _scenarioName(),
                "\",\"claims\":",
                vm.toString(claims),
                ",\"signedEntries\":",
                vm.toString(entries),
                ",\"settleExecutionGas\":",
                vm.toString(uint256(gas.gasTotalUsed)),
                ",\"refund\":",
                vm.toString(uint256(int256(gas.gasRefunded))),
                ",\"batchBytes\":",
                vm.toString(data.length),
                ",\"calldataBytes\":",
                string.concat(
                    vm.toString(callData.length),
                    ",\"zeroBytes\":",
                    vm.toString(zeros),
                    ",\"nonzeroBytes\":",
                    vm.toString(nonzeros),
                    "}"
                )
            )
        );

        // Each active provider got its week's calls from every agent, less the fee (on top of
        // what earlier weeks credited it: never withdrawn here).
        uint256 share = _share((toAgent - fromAgent) * CALLS_PER_PAIR * PRICE);
        uint256 before;
        if (scenario() == Scenario.Steady || scenario() == Scenario.Week1SecondHalf) before = share;
        if (scenario() == Scenario.Growth) before = 10 * _share(AGENTS / 10 * PRICE);
        for (uint256 i; i < active.length; ++i) {
            assertEq(settlement.earningsOf(providers[active[i]]), before + share, "provider credited");
        }
        uint256 spent = scenario() != Scenario.Steady && scenario() != Scenario.Growth
            ? WEEK_PROVIDERS * CALLS_PER_PAIR * PRICE
            : scenario() == Scenario.Steady
                ? 2 * WEEK_PROVIDERS * CALLS_PER_PAIR * PRICE
                : PAST_PROVIDERS * PRICE + WEEK_PROVIDERS * CALLS_PER_PAIR * PRICE;
        assertEq(_balanceOf(agents[7]), FUND - spent, "agent debited");
        assertTrue(gas.gasRefunded == 0, "no refund to subtract");
    }

    // The week --------------------------------------------------------------------------------------

    function _allProviders() internal view returns (uint256[] memory all) {
        all = new uint256[](providers.length);
        for (uint256 k; k < all.length; ++k) {
            all[k] = k;
        }
    }

    /// @dev This week's 10 providers: all of them, or every fifth of the 50 in GROWTH.
    function _weekProviders() internal view returns (uint256[] memory active) {
        if (scenario() != Scenario.Growth) return _allProviders();
        active = new uint256[](WEEK_PROVIDERS);
        for (uint256 i; i < WEEK_PROVIDERS; ++i) {
            active[i] = i * (PAST_PROVIDERS / WEEK_PROVIDERS);
        }
    }

    function _settleWeek(bytes32 batchId, uint256[] memory active, uint256 calls, uint256 fromAgent, uint256 toAgent)
        internal
    {
        (bytes memory data,,) = _buildWeek(active, calls, fromAgent, toAgent);
        vm.prank(settler);
        assertTrue(settlement.settle(batchId, data), "prior week applied");
    }

    /// @dev Builds the batch in which agents [fromAgent, toAgent) each pay `calls` calls to every
    /// provider in `active` (ascending indexes into `providers`), and records the new totals.
    function _buildWeek(uint256[] memory active, uint256 calls, uint256 fromAgent, uint256 toAgent)
        internal
        returns (bytes memory data, uint256 claims, uint256 entries)
    {
        return form() == Form.Track
            ? _buildTrackWeek(active, calls, fromAgent, toAgent)
            : _buildCommitmentWeek(active, calls, fromAgent, toAgent);
    }

    function _buildTrackWeek(uint256[] memory active, uint256 calls, uint256 fromAgent, uint256 toAgent)
        internal
        returns (bytes memory, uint256 claims, uint256 entries)
    {
        // The table holds only the providers claimed on: the form needs no others.
        uint256 n = active.length;
        Packer.Buf memory b = Packer.create(1 + 20 * n + (toAgent - fromAgent) * (22 + 98 * n));
        b.u8(n);
        for (uint256 i; i < n; ++i) {
            b.addr(providers[active[i]]);
        }
        for (uint256 a = fromAgent; a < toAgent; ++a) {
            address account = agents[a];
            b.u8(0);
            b.addr(account);
            b.u8(n);
            for (uint256 i; i < n; ++i) {
                uint256 k = active[i];
                uint256 cumulative = claimed[a][k] + calls * PRICE;
                bytes32 digest = _digest(
                    keccak256(abi.encode(TRACK_VOUCHER_TYPEHASH, account, account, providers[k], cumulative))
                );
                b.u8(i);
                b.u128(cumulative); // maxCumulative: the latest voucher, claimed in full
                b.u128(cumulative);
                _packSignature(b, agentKeys[a], digest);
                claimed[a][k] = cumulative;
                ++claims;
                ++entries;
            }
        }
        return (b.done(), claims, entries);
    }

    function _buildCommitmentWeek(uint256[] memory active, uint256 calls, uint256 fromAgent, uint256 toAgent)
        internal
        returns (bytes memory, uint256 claims, uint256 entries)
    {
        // The table holds every provider an agent's previous vector names (all of `providers`).
        uint256 n = providers.length;
        uint256 capacity = 1 + 20 * n + (toAgent - fromAgent) * (22 + 50 * n + 65);
        Packer.Buf memory b = Packer.create(capacity);
        b.u8(n);
        for (uint256 k; k < n; ++k) {
            b.addr(providers[k]);
        }
        bool[] memory isActive = new bool[](n);
        for (uint256 i; i < active.length; ++i) {
            isActive[active[i]] = true;
        }
        for (uint256 a = fromAgent; a < toAgent; ++a) {
            address account = agents[a];
            // The new vector's providers: the previous ones and this week's, ascending.
            uint256 listed;
            for (uint256 k; k < n; ++k) {
                if (isActive[k] || claimed[a][k] != 0) ++listed;
            }
            b.u8(0);
            b.addr(account);
            b.u8(listed);
            bytes memory entryHashes = new bytes(32 * active.length);
            uint256 signed;
            for (uint256 k; k < n; ++k) {
                uint256 previous = claimed[a][k];
                if (!isActive[k] && previous == 0) continue;
                b.u8((isActive[k] ? 1 : 0) | (previous != 0 ? 2 : 0));
                b.u8(k);
                if (previous != 0) b.u128(previous);
                if (isActive[k]) {
                    uint256 cumulative = previous + calls * PRICE;
                    b.u128(cumulative); // maxCumulative: the latest commitment, claimed in full
                    b.u128(cumulative);
                    bytes32 entryHash = keccak256(abi.encode(ENTRY_TYPEHASH, providers[k], cumulative));
                    assembly ("memory-safe") {
                        mstore(add(add(entryHashes, 0x20), mul(signed, 0x20)), entryHash)
                    }
                    ++signed;
                    ++entries;
                }
            }
            bytes32 digest = _digest(keccak256(abi.encode(COMMITMENT_TYPEHASH, account, account, keccak256(entryHashes))));
            _packSignature(b, agentKeys[a], digest);
            for (uint256 i; i < active.length; ++i) {
                claimed[a][active[i]] += calls * PRICE;
            }
            ++claims;
        }
        return (b.done(), claims, entries);
    }

    // Helpers ---------------------------------------------------------------------------------------

    function _share(uint256 gross) internal pure returns (uint256) {
        return gross - gross * FEE_BPS / 10_000;
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _packSignature(Packer.Buf memory b, uint256 key, bytes32 digest) internal pure {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        b.b32(r);
        b.b32(s);
        b.u8(v);
    }

    function _balanceOf(address account) internal view returns (uint256) {
        return form() == Form.Track
            ? TrackFormSettlement(address(settlement)).balanceOf(account)
            : CommitmentFormSettlement(address(settlement)).balanceOf(account);
    }

    function _sort(address[] memory xs) internal pure {
        for (uint256 i = 1; i < xs.length; ++i) {
            address x = xs[i];
            uint256 j = i;
            while (j > 0 && xs[j - 1] > x) {
                xs[j] = xs[j - 1];
                --j;
            }
            xs[j] = x;
        }
    }

    function _countBytes(bytes memory data) internal pure returns (uint256 zeros, uint256 nonzeros) {
        for (uint256 i; i < data.length; ++i) {
            if (data[i] == 0) ++zeros;
        }
        nonzeros = data.length - zeros;
    }

    function _scenarioName() internal pure returns (string memory) {
        Scenario s = scenario();
        if (s == Scenario.Week1) return "week1";
        if (s == Scenario.Steady) return "steady";
        if (s == Scenario.Growth) return "growth";
        return s == Scenario.Week1FirstHalf ? "week1-tx1of2" : "week1-tx2of2";
    }
}

// The variants x scenarios. Each contract settles one week in its one test. --------------------------

abstract contract TrackLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Track; }
    function packed() internal pure override returns (bool) { return false; }
    function withLog() internal pure override returns (bool) { return true; }
    function label() internal pure override returns (string memory) { return "A-track"; }
}

abstract contract TrackNoLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Track; }
    function packed() internal pure override returns (bool) { return false; }
    function withLog() internal pure override returns (bool) { return false; }
    function label() internal pure override returns (string memory) { return "A-track-nolog"; }
}

abstract contract CommitmentLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Commitment; }
    function packed() internal pure override returns (bool) { return false; }
    function withLog() internal pure override returns (bool) { return true; }
    function label() internal pure override returns (string memory) { return "B-commitment"; }
}

abstract contract CommitmentNoLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Commitment; }
    function packed() internal pure override returns (bool) { return false; }
    function withLog() internal pure override returns (bool) { return false; }
    function label() internal pure override returns (string memory) { return "B-commitment-nolog"; }
}

abstract contract CommitmentPackedLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Commitment; }
    function packed() internal pure override returns (bool) { return true; }
    function withLog() internal pure override returns (bool) { return true; }
    function label() internal pure override returns (string memory) { return "B-commitment-packed"; }
}

abstract contract CommitmentPackedNoLog is VoucherFormsBench {
    function form() internal pure override returns (Form) { return Form.Commitment; }
    function packed() internal pure override returns (bool) { return true; }
    function withLog() internal pure override returns (bool) { return false; }
    function label() internal pure override returns (string memory) { return "B-commitment-packed-nolog"; }
}

abstract contract Week1 is VoucherFormsBench {
    function scenario() internal pure override returns (Scenario) { return Scenario.Week1; }
}

abstract contract Steady is VoucherFormsBench {
    function scenario() internal pure override returns (Scenario) { return Scenario.Steady; }
}

abstract contract Growth is VoucherFormsBench {
    function scenario() internal pure override returns (Scenario) { return Scenario.Growth; }
}

abstract contract Week1FirstHalf is VoucherFormsBench {
    function scenario() internal pure override returns (Scenario) { return Scenario.Week1FirstHalf; }
}

abstract contract Week1SecondHalf is VoucherFormsBench {
    function scenario() internal pure override returns (Scenario) { return Scenario.Week1SecondHalf; }
}

contract VoucherFormsTrackWeek1Test is TrackLog, Week1 {}
contract VoucherFormsTrackSteadyTest is TrackLog, Steady {}
contract VoucherFormsTrackGrowthTest is TrackLog, Growth {}
contract VoucherFormsTrackWeek1Tx1Test is TrackLog, Week1FirstHalf {}
contract VoucherFormsTrackWeek1Tx2Test is TrackLog, Week1SecondHalf {}
contract VoucherFormsTrackNoLogWeek1Test is TrackNoLog, Week1 {}
contract VoucherFormsTrackNoLogWeek1Tx1Test is TrackNoLog, Week1FirstHalf {}
contract VoucherFormsTrackNoLogWeek1Tx2Test is TrackNoLog, Week1SecondHalf {}
contract VoucherFormsTrackNoLogSteadyTest is TrackNoLog, Steady {}
contract VoucherFormsTrackNoLogGrowthTest is TrackNoLog, Growth {}
contract VoucherFormsCommitmentWeek1Test is CommitmentLog, Week1 {}
contract VoucherFormsCommitmentSteadyTest is CommitmentLog, Steady {}
contract VoucherFormsCommitmentGrowthTest is CommitmentLog, Growth {}
contract VoucherFormsCommitmentNoLogWeek1Test is CommitmentNoLog, Week1 {}
contract VoucherFormsCommitmentNoLogSteadyTest is CommitmentNoLog, Steady {}
contract VoucherFormsCommitmentNoLogGrowthTest is CommitmentNoLog, Growth {}
contract VoucherFormsCommitmentPackedWeek1Test is CommitmentPackedLog, Week1 {}
contract VoucherFormsCommitmentPackedSteadyTest is CommitmentPackedLog, Steady {}
contract VoucherFormsCommitmentPackedGrowthTest is CommitmentPackedLog, Growth {}
contract VoucherFormsCommitmentPackedNoLogWeek1Test is CommitmentPackedNoLog, Week1 {}
contract VoucherFormsCommitmentPackedNoLogSteadyTest is CommitmentPackedNoLog, Steady {}
contract VoucherFormsCommitmentPackedNoLogGrowthTest is CommitmentPackedNoLog, Growth {}

/// @notice What naming the provider buys, on both prototypes: the operator cannot pay a claim to
/// another provider, and (commitment form) cannot rewind, drop or inflate a claimed total.
contract VoucherFormsSafetyTest is TestBase {
    using Packer for Packer.Buf;

    bytes4 internal constant BAD_CLAIM = bytes4(keccak256("BadClaim(uint256)"));
    bytes32 internal constant TRACK_VOUCHER_TYPEHASH =
        keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)");
    bytes32 internal constant COMMITMENT_TYPEHASH = keccak256(
        "Voucher(address account,address signer,Entry[] entries)Entry(address provider,uint256 maxCumulative)"
    );
    bytes32 internal constant ENTRY_TYPEHASH = keccak256("Entry(address provider,uint256 maxCumulative)");

    uint256 internal constant KEY = 0xA11CE;
    address internal settler = address(0x5E77);
    address internal agent;
    address internal p1 = address(0x1111);
    address internal p2 = address(0x2222);
    address internal evil = address(0x3333);
    TrackFormSettlement internal track;
    CommitmentFormSettlement internal commitment;
    uint256 internal batches;

    function setUp() public {
        agent = vm.addr(KEY);
        track = new TrackFormSettlement(settler, 100, true);
        commitment = new CommitmentFormSettlement(settler, 100, true, true);
        track.fund(agent, 1e6);
        commitment.fund(agent, 1e6);
    }

    function _digest(PayeeBoundSettlementBase s, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", s.domainSeparator(), structHash));
    }

    function _sig(Packer.Buf memory b, bytes32 digest) internal pure {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(KEY, digest);
        b.b32(r);
        b.b32(s);
        b.u8(v);
    }

    /// @dev One track claim of `cumulative` to table[0], on a voucher signed for `signedFor`.
    function _trackBatch(address tableProvider, address signedFor, uint256 cumulative) internal view returns (bytes memory) {
        Packer.Buf memory b = Packer.create(200);
        b.u8(1);
        b.addr(tableProvider);
        b.u8(0);
        b.addr(agent);
        b.u8(1);
        b.u8(0);
        b.u128(cumulative);
        b.u128(cumulative);
        _sig(b, _digest(track, keccak256(abi.encode(TRACK_VOUCHER_TYPEHASH, agent, agent, signedFor, cumulative))));
        return b.done();
    }

    struct Entry {
        uint8 tag;
        uint8 index;
        uint256 previous;
        uint256 maxCumulative;
        uint256 newClaimed;
    }

    /// @dev One commitment claim over `table`, signing (provider, max) of the signed entries
    /// with `signedProviders` (the providers the agent meant).
    function _commitmentBatch(address[] memory table, Entry[] memory entries, address[] memory signedProviders)
        internal
        view
        returns (bytes memory)
    {
        Packer.Buf memory b = Packer.create(1000);
        b.u8(table.length);
        for (uint256 i; i < table.length; ++i) {
            b.addr(table[i]);
        }
        b.u8(0);
        b.addr(agent);
        b.u8(entries.length);
        bytes memory hashes;
        uint256 signed;
        for (uint256 i; i < entries.length; ++i) {
            Entry memory e = entries[i];
            b.u8(e.tag);
            b.u8(e.index);
            if (e.tag & 2 != 0) b.u128(e.previous);
            if (e.tag & 1 != 0) {
                b.u128(e.maxCumulative);
                b.u128(e.newClaimed);
                hashes = bytes.concat(hashes, keccak256(abi.encode(ENTRY_TYPEHASH, signedProviders[signed++], e.maxCumulative)));
            }
        }
        _sig(b, _digest(commitment, keccak256(abi.encode(COMMITMENT_TYPEHASH, agent, agent, keccak256(hashes)))));
        return b.done();
    }

    function _settle(PayeeBoundSettlementBase s, bytes memory data) internal returns (bool ok, bytes4 selector) {
        vm.prank(settler);
        (bool success, bytes memory ret) =
            address(s).call(abi.encodeCall(PayeeBoundSettlementBase.settle, (bytes32(++batches), data)));
        ok = success;
        if (!success && ret.length >= 4) selector = bytes4(ret);
    }

    function _expectBadClaim(PayeeBoundSettlementBase s, bytes memory data, string memory what) internal {
        (bool ok, bytes4 selector) = _settle(s, data);
        assertFalse(ok, what);
        assertEq(bytes32(selector), bytes32(BAD_CLAIM), what);
    }

    function _one(address a) internal pure returns (address[] memory xs) {
        xs = new address[](1);
        xs[0] = a;
    }

    function _two(address a, address b) internal pure returns (address[] memory xs) {
        xs = new address[](2);
        xs[0] = a;
        xs[1] = b;
    }

    function test_track_operatorCannotRedirect() public {
        _expectBadClaim(track, _trackBatch(evil, p1, 5e4), "paid to another provider");
        (bool ok,) = _settle(track, _trackBatch(p1, p1, 5e4));
        assertTrue(ok, "paid to the signed provider");
        assertEq(track.earningsOf(p1), 5e4 - 500, "p1 credited");
    }

    function test_commitment_operatorCannotRedirect() public {
        Entry[] memory es = new Entry[](1);
        es[0] = Entry(1, 0, 0, 5e4, 5e4);
        _expectBadClaim(commitment, _commitmentBatch(_one(evil), es, _one(p1)), "paid to another provider");
        (bool ok,) = _settle(commitment, _commitmentBatch(_one(p1), es, _one(p1)));
        assertTrue(ok, "paid to the signed provider");
        assertEq(commitment.earningsOf(p1), 5e4 - 500, "p1 credited");
        assertEq(commitment.balanceOf(agent), 1e6 - 5e4, "agent debited");
    }

    function _commitmentWeek1() internal {
        Entry[] memory es = new Entry[](2);
        es[0] = Entry(1, 0, 0, 5e4, 5e4);
        es[1] = Entry(1, 1, 0, 5e4, 5e4);
        (bool ok,) = _settle(commitment, _commitmentBatch(_two(p1, p2), es, _two(p1, p2)));
        assertTrue(ok, "week 1");
    }

    function test_commitment_rejectsRewoundPreviousTotal() public {
        _commitmentWeek1();
        Entry[] memory es = new Entry[](2);
        es[0] = Entry(3, 0, 0, 1e5, 1e5); // says p1 "was at 0": would take 1e5 instead of 5e4
        es[1] = Entry(2, 1, 5e4, 0, 0);
        _expectBadClaim(commitment, _commitmentBatch(_two(p1, p2), es, _one(p1)), "rewound previous total");
    }

    function test_commitment_rejectsDroppedProvider() public {
        _commitmentWeek1();
        Entry[] memory es = new Entry[](1);
        es[0] = Entry(3, 0, 5e4, 1e5, 1e5); // p2's total left out: could restart from 0 later
        _expectBadClaim(commitment, _commitmentBatch(_two(p1, p2), es, _one(p1)), "dropped provider");
        Entry[] memory full = new Entry[](2);
        full[0] = Entry(3, 0, 5e4, 1e5, 1e5);
        full[1] = Entry(2, 1, 5e4, 0, 0);
        (bool ok,) = _settle(commitment, _commitmentBatch(_two(p1, p2), full, _one(p1)));
        assertTrue(ok, "with p2 carried over");
        assertEq(commitment.balanceOf(agent), 1e6 - 1e5 - 5e4, "debited p1's 5e4 more");
    }

    function test_commitment_rejectsAboveSignedMax() public {
        Entry[] memory es = new Entry[](1);
        es[0] = Entry(1, 0, 0, 5e4, 5e4 + 1);
        _expectBadClaim(commitment, _commitmentBatch(_one(p1), es, _one(p1)), "above the signed max");
    }

    function test_commitment_olderCommitmentTakesNothingMore() public {
        _commitmentWeek1();
        Entry[] memory later = new Entry[](2);
        later[0] = Entry(3, 0, 5e4, 1e5, 1e5);
        later[1] = Entry(2, 1, 5e4, 0, 0);
        (bool ok,) = _settle(commitment, _commitmentBatch(_two(p1, p2), later, _one(p1)));
        assertTrue(ok, "week 2");
        // Replaying week 1's commitment (p1: 5e4, p2: 5e4): it can only leave totals as they are.
        Entry[] memory replay = new Entry[](2);
        replay[0] = Entry(3, 0, 1e5, 5e4, 5e4);
        replay[1] = Entry(3, 1, 5e4, 5e4, 5e4);
        _expectBadClaim(commitment, _commitmentBatch(_two(p1, p2), replay, _two(p1, p2)), "older commitment lowers a total");
        replay[0] = Entry(3, 0, 1e5, 5e4, 1e5);
        uint256 balance = commitment.balanceOf(agent);
        (ok,) = _settle(commitment, _commitmentBatch(_two(p1, p2), replay, _two(p1, p2)));
        assertTrue(ok, "older commitment, totals unchanged");
        assertEq(commitment.balanceOf(agent), balance, "nothing debited");
    }
}
