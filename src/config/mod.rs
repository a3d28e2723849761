//! config/: command-line options and `bitcoin.conf`, Core's way; chain selection and
//! datadir layout. Parses and validates; never opens sockets or spawns processes.
