//! Sans-IO HTTP/1.x pieces: head parsing, body decoders and encoders.
