// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../contracts/AgentTabEscrow.sol";
import {AgentTabReputation} from "../../contracts/AgentTabReputation.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {IAgentTabReputation} from "../../contracts/interfaces/IAgentTabReputation.sol";
import {IUSDC} from "../../contracts/interfaces/IUSDC.sol";
import {VoucherHash} from "../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../contracts/mocks/MockUSDC.sol";
import {TestBase} from "./base/TestBase.sol";
import {vm} from "./base/Vm.sol";

/// @dev The library's struct hashes read calldata; this exposes them to the test.
contract VoucherHashHarness {
    function hashReceipt(IAgentTabReputation.Receipt calldata receipt) external pure returns (bytes32) {
        return VoucherHash.hashReceipt(receipt);
    }

    function hashFeedback(bytes32 requestId, uint8 score, string[] calldata tags, uint256 deadline)
        external
        pure
        returns (bytes32)
    {
        return VoucherHash.hashFeedback(requestId, score, tags, deadline);
    }
}

/// @notice Fixed vectors signed in TypeScript by viem with the SDK's typed data
/// (test/vectors/*.json, pinned by test/e2e/typedDataParity.test.ts). The contracts are deployed
/// where those vectors name them (Hardhat's first account, nonces 0 and 1, chain 31337), so the
/// digests must match to the bit and the contracts must accept the viem signatures. USDC is a
/// MockUSDC put where the local chain's FiatToken proxy lives (the local issuer's nonce 6): FiatToken
/// is solc 0.6.12 and cannot be compiled with these tests; its EIP-712 domain is the same
/// ("USD Coin", "2"), and test/e2e/typedDataParity.test.ts runs the same vectors on the real FiatToken.
contract TypedDataParityTest is TestBase {
    address internal constant DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    /// @dev Hardhat's account #8, the local FiatToken's issuer (scripts/lib/localUsdc.ts).
    address internal constant USDC_ISSUER = 0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f;
    uint64 internal constant USDC_PROXY_NONCE = 6;
    address internal constant SIGNER = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
    address internal constant USDC_ADDRESS = 0xDd8cb59289bF7e324a37F74f8abB16D9F133cb2e;
    address internal constant ESCROW_ADDRESS = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
    address internal constant REPUTATION_ADDRESS = 0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512;
    /// @dev Hardhat's account #2: the receipt's payer, who signs the relayed feedback.
    address internal constant PAYER = 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC;

    // test/vectors/voucher.json: PAYER's account, signed by SIGNER as its delegate, paying VOUCHER_PROVIDER
    address internal constant VOUCHER_PROVIDER = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;
    uint256 internal constant VOUCHER_MAX = 1234567;
    bytes32 internal constant VOUCHER_TYPEHASH = 0x23e019eb59004957d117f63ddaabc9ae1ced820f4f8c592de11f6e115039b004;
    bytes32 internal constant VOUCHER_DOMAIN = 0x271a3fe35de40b365f69ffc6540cbaa9bca4bcd84770f8a559c2ee7f42be73cc;
    bytes32 internal constant VOUCHER_STRUCT = 0x04f128348c8a5b1d0397b9288828856ac78d00b1f46a17838e9dcda396a1c305;
    bytes32 internal constant VOUCHER_DIGEST = 0x5bce0f21db821d81f64aa8cdaa8af95071c0bf8745a0c8846990227096a07bb7;
    bytes internal constant VOUCHER_SIG =
        hex"ea464f20a6a5eb65f2013e6a05e9347f4d9436ff5c5009c2e42002bcee2d10362d5bff33948459a40dbb97a524101e3cbe7ed5ae1082e5aacccf4dd0117e40c61c";

    // test/vectors/transferWithAuthorization.json
    uint256 internal constant AUTH_VALUE = 1_000_000;
    uint256 internal constant AUTH_VALID_BEFORE = 4102444800;
    bytes32 internal constant AUTH_NONCE = 0xbd4ed3ed2d48c2208ed10dd37f4326f3868dba7dec201ad1a2c23d7be4d364a2;
    bytes32 internal constant AUTH_TYPEHASH = 0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267;
    bytes32 internal constant AUTH_DOMAIN = 0x19fb7f3cc425bb0c7c3da57cffd71e3529b9c06d182e554a6e2d65400bfbf987;
    bytes32 internal constant AUTH_STRUCT = 0x20a5c39b8c9f3d1d523c0a06ec83a3e0652580584fabbcf434408078c8789225;
    bytes internal constant AUTH_SIG =
        hex"57d2f412f5d9a2516b9dc421d2e53ba5f98745a6f93429dbbabe5f1d33021cef28fe1f411162fd653aef569710e4773880f8bf5a546aacde576e70ae586338421c";

    // test/vectors/receipt.json (signed by SIGNER, the receipt signer)
    bytes32 internal constant RECEIPT_REQUEST_ID = 0xedaf27e52be8a7ea9c23e82cd558dd867e3aab9f0fffa76ec931a785fde9d5eb;
    bytes32 internal constant RECEIPT_SERVICE_ID = 0x97f788580b77eff3b91aa4976c9aded96a349720d475dae24a8bf00d0b681568;
    address internal constant RECEIPT_PROVIDER = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;
    uint256 internal constant RECEIPT_AMOUNT = 25_000;
    uint256 internal constant RECEIPT_CUMULATIVE = 1_234_567;
    uint64 internal constant RECEIPT_ISSUED_AT = 1_735_689_600;
    bytes32 internal constant RECEIPT_TYPEHASH = 0x392b9fac37cfcc237253e055e6c54b7bf5545975cf537eec7e5c21e944dd103e;
    bytes32 internal constant RECEIPT_DOMAIN = 0x598d0ef77c6c06a22b485a8734a0dfe169721b24e1f57804ba8f9420b11f358d;
    bytes32 internal constant RECEIPT_STRUCT = 0x79aa6ae8c1f90c8a81b81b3f96dd7e1a9a9d8491294e1cd5e5475ee07c8a4656;
    bytes32 internal constant RECEIPT_DIGEST = 0x92aa4f3609d04c5879b9e4f13f959a71e173b989a39df77752a411df1c59723e;
    bytes internal constant RECEIPT_SIG =
        hex"548f85e0887bef1dd87d9ed0c51d900d85c2f9d50fabdb5f0f61961159e07395300be16c61a37a779b34a5c2fa46a9c01884a02e03857c9201dc33afe8e953af1b";

    // test/vectors/feedback.json (signed by PAYER; tags ["fast", "accurate"])
    uint8 internal constant FEEDBACK_SCORE = 87;
    uint256 internal constant FEEDBACK_DEADLINE = 4102444800;
    bytes32 internal constant FEEDBACK_TYPEHASH = 0x46bfc098754c2bc9bd6916422fefc37456ebf182e7cd5a1969b58d1ee115767e;
    bytes32 internal constant FEEDBACK_STRUCT = 0xb111d6de30e322568ce991872670d2852a5448ec3dd74408754b6dfee82bf6dc;
    bytes32 internal constant FEEDBACK_DIGEST = 0x3a517d3153e4327da262f55958ef8e58c90a99ebba5fe418374a63d9b521bfb6;
    bytes internal constant FEEDBACK_SIG =
        hex"e6bee62a0128b8f30e03eac5e6bfaafde608e68da47e78d32daefa23df4e5b382b8ce58a719e3e0b2290176f23f62c37d6070e0283de90da5fbe1ce6fbe177cc1c";

    MockUSDC internal usdc;
    AgentTabEscrow internal escrow;
    AgentTabReputation internal reputation;
    VoucherHashHarness internal harness;
    address internal settler = address(0x5E77);
    address internal exactRelayer = address(0xE7AC7);

    function setUp() public {
        assertEq(block.chainid, 31337, "the vectors are for chain 31337");
        assertEq(vm.getNonce(DEPLOYER), 0, "deployer starts fresh");
        vm.setNonce(USDC_ISSUER, USDC_PROXY_NONCE);
        vm.prank(USDC_ISSUER);
        usdc = new MockUSDC();
        vm.startPrank(DEPLOYER);
        escrow = new AgentTabEscrow(IUSDC(address(usdc)), DEPLOYER, 0, 500, 100, 8 days);
        reputation = new AgentTabReputation(DEPLOYER, 0);
        escrow.grantRole(escrow.SETTLER_ROLE(), settler);
        escrow.grantRole(escrow.EXACT_PAYMENT_ROLE(), exactRelayer);
        reputation.setReceiptSigner(SIGNER, true);
        vm.stopPrank();
        harness = new VoucherHashHarness();
    }

    function _receipt() internal pure returns (IAgentTabReputation.Receipt memory) {
        return IAgentTabReputation.Receipt(
            RECEIPT_REQUEST_ID,
            RECEIPT_SERVICE_ID,
            RECEIPT_PROVIDER,
            PAYER,
            RECEIPT_AMOUNT,
            RECEIPT_CUMULATIVE,
            RECEIPT_ISSUED_AT
        );
    }

    function _feedbackTags() internal pure returns (string[] memory tags) {
        tags = new string[](2);
        tags[0] = "fast";
        tags[1] = "accurate";
    }

    function test_parity_contractsLandWhereTheVectorsSay() public view {
        assertEq(address(usdc), USDC_ADDRESS, "usdc address");
        assertEq(address(escrow), ESCROW_ADDRESS, "escrow address");
        assertEq(address(reputation), REPUTATION_ADDRESS, "reputation address");
    }

    function test_parity_voucherHashesMatchViem() public view {
        assertEq(VoucherHash.VOUCHER_TYPEHASH, VOUCHER_TYPEHASH, "type hash");
        assertEq(VoucherHash.hashVoucher(PAYER, SIGNER, VOUCHER_PROVIDER, VOUCHER_MAX), VOUCHER_STRUCT, "struct hash");
        assertEq(VoucherHash.toTypedDataHash(VOUCHER_DOMAIN, VOUCHER_STRUCT), VOUCHER_DIGEST, "digest from parts");
        assertEq(escrow.voucherDigest(PAYER, SIGNER, VOUCHER_PROVIDER, VOUCHER_MAX), VOUCHER_DIGEST, "escrow digest");
    }

    function test_parity_voucherHashDependsOnEveryField() public pure {
        // A swap of two addresses (or a provider other than the one signed) is another voucher.
        assertTrue(VoucherHash.hashVoucher(SIGNER, PAYER, VOUCHER_PROVIDER, VOUCHER_MAX) != VOUCHER_STRUCT, "account/signer");
        assertTrue(VoucherHash.hashVoucher(PAYER, VOUCHER_PROVIDER, SIGNER, VOUCHER_MAX) != VOUCHER_STRUCT, "signer/provider");
        assertTrue(VoucherHash.hashVoucher(PAYER, SIGNER, address(0xF001), VOUCHER_MAX) != VOUCHER_STRUCT, "provider");
    }

    function test_parity_escrowSettlesTheViemSignedVoucherToItsProvider() public {
        usdc.mint(PAYER, 2e6);
        vm.startPrank(PAYER);
        usdc.approve(address(escrow), 2e6);
        escrow.deposit(2e6);
        escrow.authorizeDelegate(SIGNER, uint96(VOUCHER_MAX), uint40(4102444800));
        vm.stopPrank();
        bytes memory claim = abi.encodePacked(
            uint8(1), PAYER, SIGNER, uint16(0), uint128(VOUCHER_MAX), uint128(VOUCHER_MAX), uint16(65), VOUCHER_SIG
        );
        IAgentTabEscrow.ProviderReport[] memory providers = new IAgentTabEscrow.ProviderReport[](1);
        providers[0] = IAgentTabEscrow.ProviderReport(VOUCHER_PROVIDER, 1, 0);
        vm.prank(settler);
        assertTrue(escrow.settle("parity", claim, providers), "settled");
        uint256 fee = VOUCHER_MAX * escrow.feeBps() / 10_000;
        assertEq(escrow.accountOf(PAYER).claimed, VOUCHER_MAX, "claimed by the viem voucher");
        assertEq(escrow.claimedOf(PAYER, SIGNER, VOUCHER_PROVIDER), VOUCHER_MAX, "the track's claimed total");
        assertEq(escrow.earningsOf(VOUCHER_PROVIDER), VOUCHER_MAX - fee, "the provider the voucher names is paid");
    }

    function test_parity_authorizationHashesMatchViem() public view {
        assertEq(VoucherHash.TRANSFER_WITH_AUTHORIZATION_TYPEHASH, AUTH_TYPEHASH, "type hash");
        assertEq(usdc.DOMAIN_SEPARATOR(), AUTH_DOMAIN, "USDC domain");
        bytes32 structHash = VoucherHash.hashAuthorization(
            AUTH_TYPEHASH, SIGNER, ESCROW_ADDRESS, AUTH_VALUE, 0, AUTH_VALID_BEFORE, AUTH_NONCE
        );
        assertEq(structHash, AUTH_STRUCT, "struct hash");
    }

    function test_parity_exactPaymentAcceptsTheViemAuthorization() public {
        usdc.mint(SIGNER, AUTH_VALUE);
        IAgentTabEscrow.ExactPayment memory payment =
            IAgentTabEscrow.ExactPayment(SIGNER, AUTH_VALUE, 0, AUTH_VALID_BEFORE, AUTH_NONCE, address(0xF001), 0);
        vm.prank(exactRelayer);
        escrow.settleExactPayment(payment, AUTH_SIG);
        assertEq(escrow.earningsOf(address(0xF001)), AUTH_VALUE, "provider paid by the viem authorization");
    }

    function test_parity_receiptHashesMatchViem() public view {
        assertEq(VoucherHash.RECEIPT_TYPEHASH, RECEIPT_TYPEHASH, "type hash");
        assertEq(harness.hashReceipt(_receipt()), RECEIPT_STRUCT, "struct hash");
        assertEq(VoucherHash.toTypedDataHash(RECEIPT_DOMAIN, RECEIPT_STRUCT), RECEIPT_DIGEST, "digest from parts");
        assertEq(reputation.receiptDigest(_receipt()), RECEIPT_DIGEST, "reputation digest");
    }

    function test_parity_feedbackHashesMatchViem() public view {
        assertEq(VoucherHash.FEEDBACK_TYPEHASH, FEEDBACK_TYPEHASH, "type hash");
        assertEq(
            harness.hashFeedback(RECEIPT_REQUEST_ID, FEEDBACK_SCORE, _feedbackTags(), FEEDBACK_DEADLINE),
            FEEDBACK_STRUCT,
            "struct hash"
        );
        assertEq(VoucherHash.toTypedDataHash(RECEIPT_DOMAIN, FEEDBACK_STRUCT), FEEDBACK_DIGEST, "digest from parts");
        assertEq(
            reputation.feedbackDigest(RECEIPT_REQUEST_ID, FEEDBACK_SCORE, _feedbackTags(), FEEDBACK_DEADLINE),
            FEEDBACK_DIGEST,
            "reputation digest"
        );
    }

    function test_parity_payerGivesFeedbackWithTheViemSignedReceipt() public {
        vm.prank(PAYER);
        reputation.giveFeedback(_receipt(), RECEIPT_SIG, 50, _feedbackTags());
        assertTrue(reputation.feedbackGiven(RECEIPT_REQUEST_ID), "accepted the viem receipt");
    }

    function test_parity_relayerSubmitsTheViemSignedFeedback() public {
        vm.prank(settler);
        reputation.giveFeedbackBySig(
            _receipt(), RECEIPT_SIG, FEEDBACK_SCORE, _feedbackTags(), FEEDBACK_DEADLINE, FEEDBACK_SIG
        );
        assertTrue(reputation.feedbackGiven(RECEIPT_REQUEST_ID), "accepted the viem feedback");
    }
}
