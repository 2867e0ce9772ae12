// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {MockSmartWallet} from "../../contracts/mocks/MockSmartWallet.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice Vouchers signed by smart-contract wallets (ERC-1271), honest and hostile.
contract SettleSmartWalletTest is EscrowTestBase {
    MockSmartWallet internal wallet;

    function setUp() public override {
        super.setUp();
        wallet = new MockSmartWallet(alice);
        usdc.mint(address(wallet), 50e6);
        vm.startPrank(alice);
        wallet.execute(address(usdc), abi.encodeCall(usdc.approve, (address(escrow), 50e6)));
        wallet.execute(address(escrow), abi.encodeCall(escrow.deposit, (50e6)));
        vm.stopPrank();
        _fund(alice, 50e6);
        _fund(bob, 50e6);
    }

    function test_settle_acceptsERC1271WalletVoucher() public {
        address w = address(wallet);
        bytes memory sig = _signVoucherAs(ALICE_KEY, w, w, provider1, 6e6); // the wallet's owner signs for it
        _settle("b", _encodeClaim(w, w, 0, 6e6, 6e6, sig));
        assertEq(_balance(w), 44e6, "wallet account debited");
    }

    function test_settle_rejectsWalletVoucherNotSignedByOwner() public {
        address w = address(wallet);
        bytes memory claim = _encodeClaim(w, w, 0, 6e6, 6e6, _signVoucherAs(MALLORY_KEY, w, w, provider1, 6e6));
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, w, w));
    }

    function test_settle_ownersVoucherIsNotValidOnItsWalletDelegatesTrack() public {
        // Alice delegates to a wallet that accepts her own signatures. Her voucher for her own track
        // is claimed once; the same signature cannot be claimed again as the wallet's, because the
        // signed message names the signer.
        address w = address(wallet);
        vm.prank(alice);
        escrow.authorizeDelegate(w, 50e6, 0);
        bytes memory sig = _signVoucher(ALICE_KEY, alice, provider1, 6e6);
        _settle("own", _encodeClaim(alice, alice, 0, 6e6, 6e6, sig));
        assertEq(_balance(alice), 44e6, "claimed once");
        _settleExpectRevert(
            _encodeClaim(alice, w, 0, 6e6, 6e6, sig),
            abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, alice, w)
        );
        assertEq(_balance(alice), 44e6, "not a second time");
        // What the wallet itself signs (its owner's key, as the wallet) is valid on its own track.
        bytes memory walletSig = _signVoucherAs(ALICE_KEY, alice, w, provider1, 2e6);
        _settle("delegate", _encodeClaim(alice, w, 0, 2e6, 2e6, walletSig));
        assertEq(escrow.claimedOf(alice, w, provider1), 2e6, "wallet's track");
        assertEq(escrow.claimedOf(alice, alice, provider1), 6e6, "owner's track");
        assertEq(_balance(alice), 42e6, "debited 6 + 2");
    }

    function test_settle_lyingWalletCannotSpendAnotherAccount() public {
        vm.prank(alice);
        wallet.setLying(true);
        // The wallet approves any signature, but a claim on Bob's account must be signed by Bob or
        // one of Bob's delegates, and the wallet is neither.
        _settleExpectRevert(
            _encodeClaim(bob, address(wallet), 0, 6e6, 6e6, hex"00"),
            abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, bob, address(wallet))
        );
        assertEq(_balance(bob), 50e6, "bob untouched");
    }

    function test_settle_lyingWalletDelegateStaysWithinCap() public {
        vm.prank(bob);
        escrow.authorizeDelegate(address(wallet), 2e6, 0);
        vm.prank(alice);
        wallet.setLying(true);
        _settleExpectRevert(
            _encodeClaim(bob, address(wallet), 0, 40e6, 3e6, hex"00"),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, bob, address(wallet), 2e6, 3e6)
        );
    }

    function test_settle_lyingWalletDelegateStaysWithinCapAcrossProviders() public {
        vm.prank(bob);
        escrow.authorizeDelegate(address(wallet), 2e6, 0);
        vm.prank(alice);
        wallet.setLying(true);
        bytes memory claims = abi.encodePacked(
            _encodeClaim(bob, address(wallet), 0, 40e6, 2e6, hex"00"),
            _encodeClaim(bob, address(wallet), 1, 40e6, 1, hex"00")
        );
        _settleExpectRevert(
            claims,
            _reports(provider1, provider2),
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, bob, address(wallet), 2e6, 2e6 + 1)
        );
    }
}
