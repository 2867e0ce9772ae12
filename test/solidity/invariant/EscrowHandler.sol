// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../../contracts/interfaces/IAgentTabEscrow.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";

/// @title Drives the escrow through random sequences of everything agents, providers and the
/// operator can do, keeping ghost totals to check against.
contract EscrowHandler is TestBase {
    AgentTabEscrow public immutable escrow;
    MockUSDC public immutable usdc;
    address public immutable settler;
    address public immutable admin;

    uint256[3] internal agentKeys = [uint256(0xA1), 0xA2, 0xA3];
    uint256 internal constant DELEGATE_KEY = 0xDE1;
    address[2] internal providers = [address(0xF1), address(0xF2)];

    /// @dev Highest maximum each (account, signer, provider) track ever signed.
    mapping(address => mapping(address => mapping(address => uint256))) public ghostSigned;
    /// @dev Highest cap ever granted to the delegate on each account.
    mapping(address => uint256) public ghostDelegateCap;
    /// @dev Observed on-chain: account balances taken by settlements, provider credits, fees.
    uint256 public ghostDebited;
    uint256 public ghostCredited;
    uint256 public ghostFees;
    uint256 public batchNonce;

    constructor(AgentTabEscrow escrow_, MockUSDC usdc_, address settler_, address admin_) {
        escrow = escrow_;
        usdc = usdc_;
        settler = settler_;
        admin = admin_;
    }

    function agent(uint256 i) public view returns (address) {
        return vm.addr(agentKeys[i % 3]);
    }

    function delegate() public pure returns (address) {
        return vm.addr(DELEGATE_KEY);
    }

    function provider(uint256 i) public view returns (address) {
        return providers[i % 2];
    }

    // Agents --------------------------------------------------------------------------------------

    function deposit(uint256 who, uint256 amount) external {
        amount = bound(amount, 1, 1e12);
        address a = agent(who);
        usdc.mint(a, amount);
        vm.startPrank(a);
        usdc.approve(address(escrow), amount);
        escrow.deposit(amount);
        vm.stopPrank();
    }

    function authorizeDelegate(uint256 who, uint256 cap) external {
        cap = bound(cap, 0, 1e12);
        address a = agent(who);
        vm.prank(a);
        escrow.authorizeDelegate(delegate(), uint96(cap), 0);
        if (cap > ghostDelegateCap[a]) ghostDelegateCap[a] = cap;
    }

    function revokeDelegate(uint256 who) external {
        address a = agent(who);
        if (!escrow.delegationOf(a, delegate()).active) return;
        vm.prank(a);
        escrow.revokeDelegate(delegate());
    }

    function requestWithdrawal(uint256 who, uint256 amount) external {
        address a = agent(who);
        uint256 balance = escrow.accountOf(a).balance;
        if (balance == 0) return;
        vm.prank(a);
        escrow.requestWithdrawal(bound(amount, 1, balance));
    }

    function finalizeWithdrawal(uint256 who) external {
        address a = agent(who);
        IAgentTabEscrow.PendingWithdrawal memory w = escrow.pendingWithdrawalOf(a);
        if (w.unlockAt == 0) return;
        if (block.timestamp < w.unlockAt) vm.warp(w.unlockAt);
        vm.prank(a);
        escrow.finalizeWithdrawal();
    }

    // Operator ------------------------------------------------------------------------------------

    /// @dev One claim to build: who pays, through which signer, to which provider, how much more.
    struct Pick {
        uint256 who;
        bool delegated;
        uint256 extra;
    }

    /// @dev Settles a batch with a claim to each provider (on random tracks, within what balances
    /// and caps allow, the second seeing what the first took) and checks each provider's credit is
    /// its gross less the fee at the current rate, rounded down.
    function settle(uint256 who0, uint256 who1, uint256 delegatedBits, uint256 extra0, uint256 extra1, uint256 served)
        external
    {
        Pick[2] memory picks =
            [Pick(who0, delegatedBits & 1 == 1, extra0), Pick(who1, delegatedBits & 2 == 2, extra1)];
        bytes memory claims;
        uint256[2] memory gross;
        uint256[3] memory taken; // per agent, within this batch
        uint256 delegateTaken; // on one account only: reset when the second pick is another agent
        for (uint256 p; p < 2; ++p) {
            Pick memory pick = picks[p];
            address a = agent(pick.who);
            uint256 limit = escrow.accountOf(a).balance - taken[pick.who % 3];
            if (pick.delegated) {
                IAgentTabEscrow.Delegation memory d = escrow.delegationOf(a, delegate());
                uint256 used = d.claimed + (p == 1 && picks[0].delegated && picks[0].who % 3 == pick.who % 3 ? delegateTaken : 0);
                if (!d.active || d.cap <= used) continue;
                if (d.cap - used < limit) limit = d.cap - used;
            }
            if (limit == 0) continue;
            uint256 amount = bound(pick.extra, 1, limit);
            (bytes memory claim, uint256 cumulative, address signer) = _claim(a, pick, provider(p), p, amount);
            claims = bytes.concat(claims, claim);
            if (cumulative > ghostSigned[a][signer][provider(p)]) ghostSigned[a][signer][provider(p)] = cumulative;
            gross[p] = amount;
            taken[pick.who % 3] += amount;
            if (pick.delegated) delegateTaken = amount;
        }
        IAgentTabEscrow.ProviderReport[] memory reports = new IAgentTabEscrow.ProviderReport[](2);
        reports[0] = IAgentTabEscrow.ProviderReport(provider(0), uint32(bound(served, 0, 1000)), 0);
        reports[1] = IAgentTabEscrow.ProviderReport(provider(1), 0, uint32(bound(served, 0, 7)));
        _settleAndObserve(claims, reports, gross);
    }

    function _claim(address a, Pick memory pick, address payee, uint256 providerIndex, uint256 amount)
        internal
        view
        returns (bytes memory claim, uint256 cumulative, address signer)
    {
        uint256 key = pick.delegated ? DELEGATE_KEY : agentKeys[pick.who % 3];
        signer = vm.addr(key);
        cumulative = escrow.claimedOf(a, signer, payee) + amount;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, escrow.voucherDigest(a, signer, payee, cumulative));
        claim = abi.encodePacked(
            uint8(pick.delegated ? 1 : 0),
            a,
            pick.delegated ? abi.encodePacked(signer) : bytes(""),
            uint16(providerIndex),
            uint128(cumulative),
            uint128(cumulative),
            uint16(65),
            abi.encodePacked(r, s, v)
        );
    }

    function _settleAndObserve(
        bytes memory claims,
        IAgentTabEscrow.ProviderReport[] memory reports,
        uint256[2] memory gross
    ) internal {
        uint256 rate = escrow.feeBps();
        uint256 agentsBefore = _agentBalances();
        uint256[2] memory earnedBefore = [escrow.earningsOf(provider(0)), escrow.earningsOf(provider(1))];
        uint256 feesBefore = escrow.accruedFees();
        vm.prank(settler);
        assertTrue(escrow.settle(keccak256(abi.encode(++batchNonce)), claims, reports), "fresh batch applied");
        for (uint256 p; p < 2; ++p) {
            uint256 credit = escrow.earningsOf(provider(p)) - earnedBefore[p];
            assertEq(credit, gross[p] - gross[p] * rate / 10_000, "credit == gross - floor(gross * rate)");
            ghostCredited += credit;
        }
        ghostDebited += agentsBefore - _agentBalances();
        ghostFees += escrow.accruedFees() - feesBefore;
    }

    function _agentBalances() internal view returns (uint256 total) {
        for (uint256 i; i < 3; ++i) {
            total += escrow.accountOf(agent(i)).balance;
        }
    }

    /// @dev Re-submits the last batch id with a different payload: it must change nothing.
    function replayBatch(uint256 who) external {
        if (batchNonce == 0) return;
        bytes32 batchId = keccak256(abi.encode(batchNonce));
        address a = agent(who);
        uint256 before = escrow.accountOf(a).balance;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(agentKeys[who % 3], escrow.voucherDigest(a, a, provider(0), 1e18));
        bytes memory claim =
            abi.encodePacked(uint8(0), a, uint16(0), uint128(1e18), uint128(1e18), uint16(65), r, s, v);
        IAgentTabEscrow.ProviderReport[] memory reports = new IAgentTabEscrow.ProviderReport[](1);
        reports[0] = IAgentTabEscrow.ProviderReport(provider(0), 1, 0);
        vm.prank(settler);
        bool applied = escrow.settle(batchId, claim, reports);
        assertFalse(applied, "replayed batch applied");
        assertEq(escrow.accountOf(a).balance, before, "replay moved money");
    }

    // Providers and admin -------------------------------------------------------------------------

    function withdrawEarnings(uint256 which, uint256 amount) external {
        address p = provider(which);
        uint256 earned = escrow.earningsOf(p);
        if (earned == 0) return;
        vm.prank(p);
        escrow.withdrawEarnings(p, bound(amount, 1, earned));
    }

    function withdrawFees(uint256 amount) external {
        uint256 accrued = escrow.accruedFees();
        if (accrued == 0) return;
        vm.prank(admin);
        escrow.withdrawFees(admin, bound(amount, 1, accrued));
    }

    function setFeeRate(uint256 bps) external {
        vm.prank(admin);
        escrow.setFeeRate(uint16(bound(bps, 0, escrow.MAX_FEE_BPS())));
    }
}
