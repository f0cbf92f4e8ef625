// Package extract is the hot path of marketrail: it turns the bytes of one CloudTrail log
// object into the raw JSON text of the few records worth decoding.
//
// The stages, each reused across objects by one worker so that steady-state work allocates
// nothing per record, are:
//
//   - [Reader] sniffs gzip by its magic bytes and inflates it (or passes plain text through),
//     stripping a UTF-8 byte-order mark, so the rest of the pipeline sees JSON text.
//   - [Scanner] frames that text into records, one raw JSON object at a time, without decoding
//     them. It understands CloudTrail's {"Records":[...]} files, bare JSON arrays and
//     one-event-per-line streams, and it streams: memory depends on the largest record, not on
//     the size of the file, and is bounded by the maximum record size: a record larger than
//     that, or nested too deeply to decode, is followed to its end without being buffered and
//     yielded as its first bytes only (Scanner.Truncated), so the scan goes on. A [Budget]
//     shared by the Scanners of a process bounds what they hold at once for records over
//     [LargeRecordSize]: such a record waits for it.
//   - [Filter] rejects most records with one substring search and, for the rest, reads only the
//     top-level eventSource to decide exactly.
//
// Only the records a Filter selects go on to a full decode elsewhere; everything here treats a
// record as bytes.
package extract
