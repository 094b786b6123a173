//! Signed Ethereum transactions as evidence: an MEV incident names the transaction the
//! attacker sent, and the transaction's own signature is what makes the attacker liable
//! (`docs/PROTOCOL.md`, "Liability").

use alloy_consensus::{TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::eip2718::Decodable2718;

use crate::{Error, EthAddress, Hash32};

/// A signed transaction in its EIP-2718 encoding (legacy RLP, or a typed envelope), decoded
/// down to what evidence needs: its hash and its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The transaction hash: keccak-256 of the encoding, as block explorers show it.
    pub hash: Hash32,
    /// The address whose key signed it.
    pub signer: EthAddress,
    /// The chain id it is bound to (`None` for a pre-EIP-155 legacy transaction).
    pub chain_id: Option<u64>,
    /// The encoding, exactly as given.
    pub raw: Vec<u8>,
}

impl SignedTransaction {
    /// Decodes `raw` (the whole input: trailing bytes are refused) and recovers its signer.
    /// A signature with a high `s` is refused (EIP-2), as for every other signature here.
    ///
    /// # Errors
    /// [`Error::InvalidTransaction`] when `raw` is not one signed transaction, or no signer
    /// can be recovered from its signature.
    pub fn decode(raw: &[u8]) -> Result<Self, Error> {
        let envelope =
            TxEnvelope::decode_2718_exact(raw).map_err(|e| Error::InvalidTransaction {
                reason: e.to_string(),
            })?;
        let signer = envelope
            .recover_signer()
            .map_err(|e| Error::InvalidTransaction {
                reason: e.to_string(),
            })?;
        Ok(Self {
            hash: Hash32::from(envelope.tx_hash().0),
            signer: EthAddress::from(signer),
            chain_id: alloy_consensus::Transaction::chain_id(&envelope),
            raw: raw.to_vec(),
        })
    }

    /// Decodes `0x`-prefixed hex (see [`Self::decode`]).
    ///
    /// # Errors
    /// [`Error::InvalidTransaction`] for bad hex or a bad transaction.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| Error::InvalidTransaction {
                reason: "expected 0x followed by hex digits".into(),
            })?;
        let raw = hex::decode(digits).map_err(|e| Error::InvalidTransaction {
            reason: format!("bad hex: {e}"),
        })?;
        Self::decode(&raw)
    }

    /// The signer, if it is one of `allowed`.
    ///
    /// # Errors
    /// [`Error::WrongSigner`] otherwise.
    pub fn check_signer<'a>(&self, allowed: &'a [EthAddress]) -> Result<&'a EthAddress, Error> {
        crate::message::signer_among(&self.signer, allowed)
    }

    /// The encoding as `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.raw))
    }
}

impl std::str::FromStr for SignedTransaction {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_hex(text)
    }
}

impl std::fmt::Display for SignedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of EIP-155 (key `0x46…46`, chain 1).
    const EIP155: &str = "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83";
    /// An EIP-1559 USDC transfer on Base (8453) signed by the same key with `eth-account`.
    const EIP1559: &str = "0x02f8b082210507830f4240847735940082ea6094833589fcd6edb6e08f4c7c32d4f71b54bda0291380b844a9059cbb000000000000000000000000353535353535353535353535353535353535353500000000000000000000000000000000000000000000000000000000000f4240c080a0cbb305b8e5cbbc4f711ed03cba4c37f6263e423a9b82db16830160d6e6782deda022188ab08464e19bab67074a27b71ef12efcb009801825a36b9971dab9040c25";
    const SIGNER: &str = "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f";

    #[test]
    fn known_answers() {
        let legacy = SignedTransaction::from_hex(EIP155).unwrap();
        assert_eq!(
            legacy.hash.to_string(),
            "0x33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788"
        );
        assert_eq!(legacy.signer.to_string(), SIGNER);
        assert_eq!(legacy.chain_id, Some(1));
        assert_eq!(legacy.to_hex(), EIP155);

        let typed = SignedTransaction::from_hex(EIP1559).unwrap();
        assert_eq!(
            typed.hash.to_string(),
            "0xc99b7a7c03600d86e810669e514aebde10e1f0d05533c86661f062a10ab1dd3b"
        );
        assert_eq!(typed.signer.to_string(), SIGNER);
        assert_eq!(typed.chain_id, Some(8453));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "0x",
            "f86c09",
            "0xzz",
            &EIP155[..EIP155.len() - 2],
            &format!("{EIP155}00"),
        ] {
            assert!(
                matches!(
                    SignedTransaction::from_hex(bad),
                    Err(Error::InvalidTransaction { .. })
                ),
                "{bad:?}"
            );
        }
        // A flipped bit in the signature's r recovers someone else, or no one.
        let mut raw = hex::decode(&EIP155[2..]).unwrap();
        let r = raw.len() - 64;
        raw[r] ^= 1;
        if let Ok(tx) = SignedTransaction::decode(&raw) {
            assert_ne!(tx.signer.to_string(), SIGNER);
        }
    }
}
