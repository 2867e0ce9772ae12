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
        _fund(bob, 50e6);
    }

    function test_settle_acceptsERC1271WalletVoucher() public {
        address w = address(wallet);
        bytes memory sig = _signVoucher(ALICE_KEY, w, 6e6); // the wallet's owner signs for it
        _settleTo("b", _encodeClaim(w, w, 6e6, 6e6, sig), provider1, 6e6);
        assertEq(_balance(w), 44e6, "wallet account debited");
    }

    function test_settle_rejectsWalletVoucherNotSignedByOwner() public {
        address w = address(wallet);
        bytes memory claim = _encodeClaim(w, w, 6e6, 6e6, _signVoucher(MALLORY_KEY, w, 6e6));
        (uint256 share, uint256 fee) = _split(6e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InvalidVoucherSignature.selector, w, w));
        escrow.settle("b", claim, _payouts(provider1, share), fee);
    }

    function test_settle_lyingWalletCannotSpendAnotherAccount() public {
        vm.prank(alice);
        wallet.setLying(true);
        // The wallet approves any signature, but a claim on Bob's account must be signed by Bob or
        // one of Bob's delegates, and the wallet is neither.
        bytes memory claim = _encodeClaim(bob, address(wallet), 6e6, 6e6, hex"00");
        (uint256 share, uint256 fee) = _split(6e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, bob, address(wallet)));
        escrow.settle("b", claim, _payouts(provider1, share), fee);
        assertEq(_balance(bob), 50e6, "bob untouched");
    }

    function test_settle_lyingWalletDelegateStaysWithinCap() public {
        vm.prank(bob);
        escrow.authorizeDelegate(address(wallet), 2e6, 0);
        vm.prank(alice);
        wallet.setLying(true);
        bytes memory claim = _encodeClaim(bob, address(wallet), 40e6, 3e6, hex"00");
        (uint256 share, uint256 fee) = _split(3e6);
        vm.prank(settler);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, bob, address(wallet), 2e6, 3e6)
        );
        escrow.settle("b", claim, _payouts(provider1, share), fee);
    }
}
