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
            claimed += escrow.accountOf(handler.agent(i)).claimed;
        }
        assertEq(claimed, handler.ghostDebited(), "claimed on-chain == debited");
    }

    function invariant_claimedTotalsAreTheSumsOfTheirTracks() public view {
        address d = handler.delegate();
        for (uint256 i; i < 3; ++i) {
            address a = handler.agent(i);
            uint256 own;
            uint256 delegated;
            for (uint256 p; p < 2; ++p) {
                own += escrow.claimedOf(a, a, handler.provider(p));
                delegated += escrow.claimedOf(a, d, handler.provider(p));
            }
            assertEq(escrow.delegationOf(a, d).claimed, delegated, "delegate total == sum of its tracks");
            assertEq(escrow.accountOf(a).claimed, own + delegated, "account total == sum of its tracks");
        }
    }

    function invariant_noTrackClaimedBeyondWhatItsSignerSigned() public view {
        address d = handler.delegate();
        for (uint256 i; i < 3; ++i) {
            address a = handler.agent(i);
            for (uint256 p; p < 2; ++p) {
                address provider = handler.provider(p);
                assertLe(escrow.claimedOf(a, a, provider), handler.ghostSigned(a, a, provider), "owner track <= signed");
                assertLe(escrow.claimedOf(a, d, provider), handler.ghostSigned(a, d, provider), "delegate track <= signed");
            }
            assertLe(escrow.delegationOf(a, d).claimed, handler.ghostDelegateCap(a), "delegate total <= highest cap");
        }
    }
}
