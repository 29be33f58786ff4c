package delta

import (
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// Reader features this package reads correctly. deletionVectors and columnMapping are listed
// because a table may enable them without using them: CheckRead refuses a table whose files
// carry deletion vectors or whose column mapping mode is not none.
var readerFeatures = []string{"timestampNtz", "vacuumProtocolCheck", "deletionVectors", "columnMapping"}

// Writer features a write by this package respects. Each comes with a condition CheckWrite
// verifies (no constraints, generated or identity columns in use, column mapping off, …).
var writerFeatures = []string{
	"appendOnly", "invariants", "timestampNtz", "vacuumProtocolCheck", "changeDataFeed",
	"checkConstraints", "generatedColumns", "identityColumns", "columnMapping", "deletionVectors",
	"domainMetadata", "allowColumnDefaults",
}

// CheckRead refuses (fault.Data) a snapshot this package cannot read without misreading it.
func (s *Snapshot) CheckRead() error {
	p := s.Protocol
	switch {
	case p.MinReaderVersion > 3:
		return fault.Dataf("delta table %s needs reader version %d; aiflow reads up to 3", s.Table.uri, p.MinReaderVersion)
	case p.MinReaderVersion == 3:
		for _, f := range p.ReaderFeatures {
			if !slices.Contains(readerFeatures, f) {
				return fault.Dataf("delta table %s uses the reader feature %q, which aiflow's arrow engine does not read (it reads %s); read it with the spark engine", s.Table.uri, f, strings.Join(readerFeatures[:2], ", "))
			}
		}
	}
	if mode := s.Metadata.Configuration["delta.columnMapping.mode"]; mode != "" && mode != "none" {
		return fault.Dataf("delta table %s uses column mapping (mode %s), which aiflow's arrow engine does not read; read it with the spark engine", s.Table.uri, mode)
	}
	for _, a := range s.files {
		if len(a.DeletionVector) > 0 && string(a.DeletionVector) != "null" {
			return fault.Dataf("delta table %s has deletion vectors (file %s), which aiflow's arrow engine does not read; read it with the spark engine, or purge them (REORG TABLE … APPLY (PURGE))", s.Table.uri, a.Path)
		}
	}
	return nil
}

// CheckWrite refuses (fault.Data) a write this package would do wrong: a protocol or a feature
// in use that it does not implement (constraints, generated and identity columns, column
// mapping, row tracking, in-commit timestamps, …).
func (s *Snapshot) CheckWrite(overwrite bool) error {
	if err := s.CheckRead(); err != nil {
		return err
	}
	p := s.Protocol
	if p.MinWriterVersion > 7 {
		return fault.Dataf("delta table %s needs writer version %d; aiflow writes up to 7", s.Table.uri, p.MinWriterVersion)
	}
	if p.MinWriterVersion == 7 {
		for _, f := range p.WriterFeatures {
			if !slices.Contains(writerFeatures, f) {
				return fault.Dataf("delta table %s uses the writer feature %q, which aiflow's arrow engine does not write; write it with the spark engine", s.Table.uri, f)
			}
		}
	}
	conf := s.Metadata.Configuration
	if overwrite && strings.EqualFold(conf["delta.appendOnly"], "true") {
		return fault.Dataf("delta table %s is append-only (delta.appendOnly=true): mode overwrite would remove files", s.Table.uri)
	}
	for k := range conf {
		if strings.HasPrefix(k, "delta.constraints.") {
			return fault.Dataf("delta table %s has CHECK constraint %s, which aiflow's arrow engine does not enforce; write it with the spark engine", s.Table.uri, strings.TrimPrefix(k, "delta.constraints."))
		}
	}
	for _, f := range s.Schema.Fields {
		for k := range f.Metadata {
			switch {
			case k == "delta.invariants", k == "delta.generationExpression", strings.HasPrefix(k, "delta.identity."), k == "CURRENT_DEFAULT":
				return fault.Dataf("delta table %s: column %s has %s, which aiflow's arrow engine does not enforce; write it with the spark engine", s.Table.uri, f.Name, k)
			}
		}
	}
	return nil
}
