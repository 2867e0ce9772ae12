// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../../contracts/interfaces/IUSDC.sol";
import {VoucherHash} from "../../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";

import {TestBase} from "./TestBase.sol";
import {vm} from "./Vm.sol";

/// @title Shared fixture: a deployed escrow, actors with keys, and builders for claims and provider reports.
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

    /// @dev `key` signs the voucher as `signer` (its own address, or an ERC-1271 wallet it owns).
    function _signVoucherAs(uint256 key, address account, address signer, address provider, uint256 maxCumulative)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, escrow.voucherDigest(account, signer, provider, maxCumulative));
    }

    /// @dev `key` signs the voucher as itself.
    function _signVoucher(uint256 key, address account, address provider, uint256 maxCumulative)
        internal
        view
        returns (bytes memory)
    {
        return _signVoucherAs(key, account, vm.addr(key), provider, maxCumulative);
    }

    /// @dev Packs one claim as ClaimCodec reads it; `providerIndex` points into the batch's reports.
    function _encodeClaim(
        address account,
        address signer,
        uint256 providerIndex,
        uint256 maxCumulative,
        uint256 cumulative,
        bytes memory sig
    ) internal pure returns (bytes memory) {
        bool delegated = signer != account;
        return abi.encodePacked(
            uint8(delegated ? 1 : 0),
            account,
            delegated ? abi.encodePacked(signer) : bytes(""),
            uint16(providerIndex),
            uint128(maxCumulative),
            uint128(cumulative),
            uint16(sig.length),
            sig
        );
    }

    /// @dev A claim paying provider1 (report 0) `cumulative` on a voucher for exactly that, signed
    /// by the account's key.
    function _ownClaim(uint256 key, uint256 cumulative) internal view returns (bytes memory) {
        return _ownClaimTo(key, provider1, 0, cumulative);
    }

    /// @dev The account's own claim paying `provider`, the batch's report `providerIndex`.
    function _ownClaimTo(uint256 key, address provider, uint256 providerIndex, uint256 cumulative)
        internal
        view
        returns (bytes memory)
    {
        address account = vm.addr(key);
        return _encodeClaim(
            account, account, providerIndex, cumulative, cumulative, _signVoucher(key, account, provider, cumulative)
        );
    }

    /// @dev A delegate's claim paying provider1 (report 0).
    function _delegateClaim(address account, uint256 delegateKey, uint256 maxCumulative, uint256 cumulative)
        internal
        view
        returns (bytes memory)
    {
        return _delegateClaimTo(account, delegateKey, provider1, 0, maxCumulative, cumulative);
    }

    /// @dev A delegate's claim paying `provider`, the batch's report `providerIndex`.
    function _delegateClaimTo(
        address account,
        uint256 delegateKey,
        address provider,
        uint256 providerIndex,
        uint256 maxCumulative,
        uint256 cumulative
    ) internal view returns (bytes memory) {
        return _encodeClaim(
            account,
            vm.addr(delegateKey),
            providerIndex,
            maxCumulative,
            cumulative,
            _signVoucher(delegateKey, account, provider, maxCumulative)
        );
    }

    // Provider reports and settlement -------------------------------------------------------------

    function _reports(address provider) internal pure returns (IAgentTabEscrow.ProviderReport[] memory r) {
        r = new IAgentTabEscrow.ProviderReport[](1);
        r[0] = IAgentTabEscrow.ProviderReport(provider, 1, 0);
    }

    /// @dev Two reports, in the order given (the escrow wants them ascending).
    function _reports(address first, address second)
        internal
        pure
        returns (IAgentTabEscrow.ProviderReport[] memory r)
    {
        r = new IAgentTabEscrow.ProviderReport[](2);
        r[0] = IAgentTabEscrow.ProviderReport(first, 1, 0);
        r[1] = IAgentTabEscrow.ProviderReport(second, 1, 0);
    }

    /// @dev The fee the escrow takes from a provider's batch gross, and what the provider is credited.
    function _split(uint256 gross) internal pure returns (uint256 credit, uint256 fee) {
        fee = gross * FEE_BPS / 10_000;
        credit = gross - fee;
    }

    /// @dev Settles `claims` that all pay provider1 (report 0).
    function _settle(bytes32 batchId, bytes memory claims) internal returns (bool applied) {
        return _settleWith(batchId, claims, _reports(provider1));
    }

    function _settleWith(bytes32 batchId, bytes memory claims, IAgentTabEscrow.ProviderReport[] memory reports)
        internal
        returns (bool applied)
    {
        vm.prank(settler);
        applied = escrow.settle(batchId, claims, reports);
    }

    /// @dev Settles `claims` to provider1 expecting the escrow to revert with `revertData`.
    function _settleExpectRevert(bytes memory claims, bytes memory revertData) internal {
        _settleExpectRevert(claims, _reports(provider1), revertData);
    }

    function _settleExpectRevert(
        bytes memory claims,
        IAgentTabEscrow.ProviderReport[] memory reports,
        bytes memory revertData
    ) internal {
        vm.prank(settler);
        vm.expectRevert(revertData);
        escrow.settle("bad", claims, reports);
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
