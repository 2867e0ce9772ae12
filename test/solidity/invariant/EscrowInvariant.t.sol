// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../../contracts/AgentTabEscrow.sol";
import {IUSDC} from "../../../contracts/interfaces/IUSDC.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";
import {EscrowHandler} from "./EscrowHandler.sol";

/// @notice Money is conserved and nobody is claimed beyond what they signed, whatever the order of
/// deposits, delegations, settlements, replays, withdrawals and payouts.
contract EscrowInvariantTest is TestBase {
    AgentTabEscrow internal escrow;
    MockUSDC internal usdc;
    EscrowHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = address(0xAD);
        address settler = address(0x5E77);
        usdc = new MockUSDC();
        escrow = new AgentTabEscrow(IUSDC(address(usdc)), admin, 0, 500, 100, 8 days);
        bytes32 role = escrow.SETTLER_ROLE();
        vm.prank(admin);
        escrow.grantRole(role, settler);
        handler = new EscrowHandler(escrow, usdc, settler, admin);
    }

    /// @dev Read by the invariant runner: only the handler is called.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_usdcHeldEqualsEverythingOwed() public view {
        uint256 owed = escrow.accruedFees();
        for (uint256 i; i < 3; ++i) {
            owed += escrow.accountOf(handler.agent(i)).balance;
        }
        for (uint256 i; i < 2; ++i) {
            owed += escrow.earningsOf(handler.provider(i));
        }
        assertEq(usdc.balanceOf(address(escrow)), owed, "USDC held == agents + providers + fees");
        assertEq(escrow.totalAccounted(), owed, "totalAccounted == agents + providers + fees");
    }

    function invariant_debitsEqualCreditsPlusFees() public view {
        assertEq(handler.ghostDebited(), handler.ghostCredited() + handler.ghostFees(), "debits == credits + fees");
        uint256 claimed;
        for (uint256 i; i < 3; ++i) {
            address a = handler.agent(i);
            claimed += escrow.accountOf(a).claimed + escrow.delegationOf(a, handler.delegate()).claimed;
        }
        assertEq(claimed, handler.ghostDebited(), "claimed on-chain == debited");
    }

    function invariant_noTrackClaimedBeyondWhatItsSignerSigned() public view {
        address d = handler.delegate();
        for (uint256 i; i < 3; ++i) {
            address a = handler.agent(i);
            assertLe(escrow.accountOf(a).claimed, handler.ghostSigned(a, a), "owner track <= signed");
            uint256 delegated = escrow.delegationOf(a, d).claimed;
            assertLe(delegated, handler.ghostSigned(a, d), "delegate track <= signed");
            assertLe(delegated, handler.ghostDelegateCap(a), "delegate track <= highest cap");
        }
    }
}
