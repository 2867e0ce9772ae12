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

    /// @dev Highest maximum each (account, signer) track ever signed.
    mapping(address => mapping(address => uint256)) public ghostSigned;
    /// @dev Highest cap ever granted to the delegate on each account.
    mapping(address => uint256) public ghostDelegateCap;
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

    /// @dev Signs a fresh voucher on a random track and settles a claim within what is allowed.
    function settle(uint256 who, uint256 viaDelegate, uint256 extra, uint256 providerSeed) external {
        address a = agent(who);
        bool delegated = viaDelegate % 2 == 1;
        uint256 previous;
        uint256 limit = escrow.accountOf(a).balance;
        if (delegated) {
            IAgentTabEscrow.Delegation memory d = escrow.delegationOf(a, delegate());
            if (!d.active || d.cap <= d.claimed) return;
            previous = d.claimed;
            if (d.cap - d.claimed < limit) limit = d.cap - d.claimed;
        } else {
            previous = escrow.accountOf(a).claimed;
        }
        if (limit == 0) return;
        uint256 amount = bound(extra, 1, limit);
        uint256 cumulative = previous + amount;
        uint256 key = delegated ? DELEGATE_KEY : agentKeys[who % 3];
        address signer = vm.addr(key);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, escrow.voucherDigest(a, cumulative));
        if (cumulative > ghostSigned[a][signer]) ghostSigned[a][signer] = cumulative;
        bytes memory sig = abi.encodePacked(r, s, v);
        bytes memory claim = abi.encodePacked(
            uint8(delegated ? 1 : 0),
            a,
            delegated ? abi.encodePacked(signer) : bytes(""),
            uint128(cumulative),
            uint128(cumulative),
            uint16(65),
            sig
        );
        uint256 fee = amount * escrow.feeBps() / 10_000;
        IAgentTabEscrow.Payout[] memory p = new IAgentTabEscrow.Payout[](1);
        p[0] = IAgentTabEscrow.Payout(provider(providerSeed), uint128(amount - fee), 1, 0);
        bytes32 batchId = keccak256(abi.encode(++batchNonce));
        vm.prank(settler);
        escrow.settle(batchId, claim, p, fee);
        ghostDebited += amount;
        ghostCredited += amount - fee;
        ghostFees += fee;
    }

    /// @dev Re-submits the last batch id with a different payload: it must change nothing.
    function replayBatch(uint256 who) external {
        if (batchNonce == 0) return;
        bytes32 batchId = keccak256(abi.encode(batchNonce));
        address a = agent(who);
        uint256 before = escrow.accountOf(a).balance;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(agentKeys[who % 3], escrow.voucherDigest(a, 1e18));
        bytes memory claim = abi.encodePacked(uint8(0), a, uint128(1e18), uint128(1e18), uint16(65), r, s, v);
        vm.prank(settler);
        bool applied = escrow.settle(batchId, claim, new IAgentTabEscrow.Payout[](0), 0);
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
