// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../../contracts/interfaces/IUSDC.sol";
import {VoucherHash} from "../../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";

import {TestBase} from "./TestBase.sol";
import {vm} from "./Vm.sol";

/// @title Shared fixture: a deployed escrow, actors with keys, and builders for claims and payouts.
abstract contract EscrowTestBase is TestBase {
    uint16 internal constant MAX_FEE_BPS = 500;
    uint16 internal constant FEE_BPS = 100;
    uint64 internal constant WITHDRAWAL_DELAY = 8 days;
    uint48 internal constant ADMIN_DELAY = 2 days;

    uint256 internal constant ALICE_KEY = 0xA11CE;
    uint256 internal constant BOB_KEY = 0xB0B;
    uint256 internal constant HOT_KEY = 0x407;
    uint256 internal constant MALLORY_KEY = 0xBAD;

    MockUSDC internal usdc;
    AgentTabEscrow internal escrow;

    address internal admin = address(0xAD);
    address internal settler = address(0x5E77);
    address internal exactRelayer = address(0xE7AC7);
    address internal pauser = address(0x9A05E);
    address internal alice;
    address internal bob;
    address internal hot;
    address internal mallory;
    address internal provider1 = address(0xF001);
    address internal provider2 = address(0xF002);

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        usdc = new MockUSDC();
        escrow = new AgentTabEscrow(IUSDC(address(usdc)), admin, ADMIN_DELAY, MAX_FEE_BPS, FEE_BPS, WITHDRAWAL_DELAY);
        bytes32 settlerRole = escrow.SETTLER_ROLE();
        bytes32 pauserRole = escrow.PAUSER_ROLE();
        vm.startPrank(admin);
        escrow.grantRole(settlerRole, settler);
        escrow.grantRole(escrow.EXACT_PAYMENT_ROLE(), exactRelayer);
        escrow.grantRole(pauserRole, pauser);
        vm.stopPrank();
        alice = vm.addr(ALICE_KEY);
        bob = vm.addr(BOB_KEY);
        hot = vm.addr(HOT_KEY);
        mallory = vm.addr(MALLORY_KEY);
        vm.label(alice, "alice");
        vm.label(bob, "bob");
        vm.label(hot, "hot");
        vm.label(address(escrow), "escrow");
    }

    // Funding -------------------------------------------------------------------------------------

    function _fund(address account, uint256 amount) internal {
        usdc.mint(account, amount);
        vm.startPrank(account);
        usdc.approve(address(escrow), amount);
        escrow.deposit(amount);
        vm.stopPrank();
    }

    function _balance(address account) internal view returns (uint256) {
        return escrow.accountOf(account).balance;
    }

    // Vouchers and claims -------------------------------------------------------------------------

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signVoucher(uint256 key, address account, uint256 maxCumulative) internal view returns (bytes memory) {
        return _sign(key, escrow.voucherDigest(account, maxCumulative));
    }

    /// @dev Packs one claim as ClaimCodec reads it.
    function _encodeClaim(address account, address signer, uint256 maxCumulative, uint256 cumulative, bytes memory sig)
        internal
        pure
        returns (bytes memory)
    {
        bool delegated = signer != account;
        return abi.encodePacked(
            uint8(delegated ? 1 : 0),
            account,
            delegated ? abi.encodePacked(signer) : bytes(""),
            uint128(maxCumulative),
            uint128(cumulative),
            uint16(sig.length),
            sig
        );
    }

    /// @dev A claim of `cumulative` on a voucher for exactly `cumulative`, signed by the account's key.
    function _ownClaim(uint256 key, uint256 cumulative) internal view returns (bytes memory) {
        address account = vm.addr(key);
        return _encodeClaim(account, account, cumulative, cumulative, _signVoucher(key, account, cumulative));
    }

    function _delegateClaim(address account, uint256 delegateKey, uint256 maxCumulative, uint256 cumulative)
        internal
        view
        returns (bytes memory)
    {
        return _encodeClaim(
            account, vm.addr(delegateKey), maxCumulative, cumulative, _signVoucher(delegateKey, account, maxCumulative)
        );
    }

    // Payouts and settlement ----------------------------------------------------------------------

    function _payouts(address provider, uint256 amount) internal pure returns (IAgentTabEscrow.Payout[] memory p) {
        p = new IAgentTabEscrow.Payout[](1);
        p[0] = IAgentTabEscrow.Payout(provider, uint128(amount), 1, 0);
    }

    /// @dev The fee the escrow accepts at most for `debited`, and the provider share that balances it.
    function _split(uint256 debited) internal pure returns (uint256 providerShare, uint256 fee) {
        fee = debited * FEE_BPS / 10_000;
        providerShare = debited - fee;
    }

    /// @dev Settles `claims` that debit `debited` in total, all paid to `provider` less the full fee.
    /// @dev Settles `claims` to provider1 expecting the escrow to revert with `revertData`.
    function _settleExpectRevert(bytes memory claims, uint256 debited, bytes memory revertData) internal {
        (uint256 share, uint256 fee) = _split(debited);
        IAgentTabEscrow.Payout[] memory p = _payouts(provider1, share);
        vm.prank(settler);
        vm.expectRevert(revertData);
        escrow.settle("bad", claims, p, fee);
    }

    function _settleTo(bytes32 batchId, bytes memory claims, address provider, uint256 debited)
        internal
        returns (bool applied)
    {
        (uint256 share, uint256 fee) = _split(debited);
        vm.prank(settler);
        applied = escrow.settle(batchId, claims, _payouts(provider, share), fee);
    }

    // USDC authorizations -------------------------------------------------------------------------

    function _usdcDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
    }

    function _signAuthorization(
        uint256 key,
        bytes32 typeHash,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes memory) {
        bytes32 structHash =
            VoucherHash.hashAuthorization(typeHash, vm.addr(key), to, value, validAfter, validBefore, nonce);
        return _sign(key, _usdcDigest(structHash));
    }

    /// @dev Everything the escrow owes must be exactly what it holds.
    function _assertSolvent() internal view {
        assertEq(usdc.balanceOf(address(escrow)), escrow.totalAccounted(), "escrow USDC == totalAccounted");
    }
}
