import { hashTypedData, hexToBigInt, isAddressEqual, recoverAddress, size, sliceHex } from "viem";
import type { Address, Hex, TypedDataParameter } from "viem";

/**
 * Anything that can sign typed data of shape `typedData`: a viem `LocalAccount`, a smart wallet's
 * owner, a remote signer. Only `signTypedData` is called; `address` identifies the signer.
 *
 * @example
 * const signer: TypedDataSigner<VoucherTypedData> = privateKeyToAccount(key);
 */
export type TypedDataSigner<typedData> = {
  address: Address;
  signTypedData: (typedData: typedData) => Promise<Hex>;
};

/** One kind of message's typed data, as a signer receives it. */
export type TypedMessageData<domain, types, primaryType, message> = {
  domain: domain;
  types: types;
  primaryType: primaryType;
  message: message;
};

/** A message and the parameters of the domain it is signed under (e.g. `{ chainId, escrow }`). */
export type TypedMessageParameters<domainParameters, message> = {
  domain: domainParameters;
  message: message;
};

/** A message, its domain's parameters, its signature, and the key that should have signed it. */
export type VerifyTypedMessageParameters<domainParameters, message> = TypedMessageParameters<domainParameters, message> & {
  signature: Hex;
  signer: Address;
};

/** What {@link typedMessage} returns: everything done with one kind of message, given its domain and its contents. */
export type TypedMessage<domainParameters, typedData extends TypedMessageData<unknown, unknown, unknown, unknown>> = {
  /** The typed data, for signing, hashing or recovering its signer. */
  typedData: (parameters: TypedMessageParameters<domainParameters, typedData["message"]>) => typedData;
  /** `signer`'s signature of the typed data (ECDSA for an EOA, whatever its ERC-1271 check accepts for a smart wallet). */
  sign: (signer: TypedDataSigner<typedData>, parameters: TypedMessageParameters<domainParameters, typedData["message"]>) => Promise<Hex>;
  /** The EIP-712 digest that is signed. */
  digest: (parameters: TypedMessageParameters<domainParameters, typedData["message"]>) => Hex;
  /**
   * Whether `signature` is `signer`'s ECDSA signature by the contracts' rules: 65 bytes, `v` of 27
   * or 28, low `s`. A smart wallet's ERC-1271 signature is not checked here: it needs the chain.
   * Never throws; a malformed signature or message is `false`.
   */
  verify: (parameters: VerifyTypedMessageParameters<domainParameters, typedData["message"]>) => Promise<boolean>;
};

/**
 * Defines one kind of EIP-712 message from its domain factory, its types and its primary type, so
 * that its typed data, signing, digest and verification are derived in one place. Called twice
 * (`typedMessage<Message>()({ … })`) because TypeScript cannot take the message type explicitly
 * and infer the rest.
 *
 * @example
 * const voucher = typedMessage<Voucher>()({ domain: voucherDomain, types: voucherTypes, primaryType: "Voucher" });
 * const signature = await voucher.sign(agent, { domain: { chainId, escrow }, message: { account, signer: agent.address, provider, maxCumulative } });
 * await voucher.verify({ domain: { chainId, escrow }, message, signature, signer: agent.address }); // true
 */
export function typedMessage<message>() {
  return <domainParameters, domain, const types extends Record<string, readonly TypedDataParameter[]>, primaryType extends keyof types & string>(definition: {
    /** The domain the message is signed under, from its parameters (e.g. `voucherDomain`). */
    domain: (parameters: domainParameters) => domain;
    types: types;
    primaryType: primaryType;
  }): TypedMessage<domainParameters, TypedMessageData<domain, types, primaryType, message>> => {
    const typedData = ({ domain, message }: TypedMessageParameters<domainParameters, message>) => ({
      domain: definition.domain(domain),
      types: definition.types,
      primaryType: definition.primaryType,
      message,
    });
    // viem checks the message against the types at run time; its static check needs the message
    // type derived from `types`, which would lose the SDK's narrower ones (e.g. `ServicePricing`).
    const digest = (parameters: TypedMessageParameters<domainParameters, message>) => hashTypedData(typedData(parameters) as never);
    return {
      typedData,
      sign: (signer, parameters) => signer.signTypedData(typedData(parameters)),
      digest,
      verify: ({ signature, signer, ...parameters }) => verifyEcdsa({ digest: () => digest(parameters), signature, signer }),
    };
  };
}

// secp256k1's group order halved: a larger `s` is the malleable twin of a valid signature.
const secp256k1HalfN = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** The contracts' ECDSA rules: 65 bytes, `v` of 27 or 28, low `s`, and the expected signer. */
async function verifyEcdsa({ digest, signature, signer }: { digest: () => Hex; signature: Hex; signer: Address }): Promise<boolean> {
  try {
    if (size(signature) !== 65) return false;
    const v = hexToBigInt(sliceHex(signature, 64, 65));
    if ((v !== 27n && v !== 28n) || hexToBigInt(sliceHex(signature, 32, 64)) > secp256k1HalfN) return false;
    const recovered = await recoverAddress({ hash: digest(), signature });
    return isAddressEqual(recovered, signer);
  } catch {
    return false;
  }
}
