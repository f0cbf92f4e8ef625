package marketplace

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Nested elements are decoded leniently, each on its own: a value of the wrong JSON type
// (a string where an object belongs, an object where a string belongs) becomes null or
// text instead of failing the whole event, because real logs carry such surprises.

// array returns the elements of raw if raw is a JSON array, and reports whether it is.
func array(raw json.RawMessage) ([]json.RawMessage, bool) {
	var list []json.RawMessage
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

// object decodes raw into dst if raw is a JSON object, and reports whether it did.
func object(raw json.RawMessage, dst any) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	return json.Unmarshal(raw, dst) == nil
}

func userIdentity(raw json.RawMessage) *UserIdentity {
	var u struct {
		Type, PrincipalID, ARN, AccountID, AccessKeyID, UserName, InvokedBy, IdentityProvider text
		SessionContext                                                                        json.RawMessage
		OnBehalfOf                                                                            json.RawMessage
	}
	if !object(raw, &u) {
		return nil
	}
	return &UserIdentity{
		Type: u.Type.ptr(), PrincipalID: u.PrincipalID.ptr(), ARN: u.ARN.ptr(), AccountID: u.AccountID.ptr(),
		AccessKeyID: u.AccessKeyID.ptr(), UserName: u.UserName.ptr(), InvokedBy: u.InvokedBy.ptr(),
		IdentityProvider: u.IdentityProvider.ptr(),
		SessionContext:   sessionContext(u.SessionContext),
		OnBehalfOf:       onBehalfOf(u.OnBehalfOf),
	}
}

func sessionContext(raw json.RawMessage) *SessionContext {
	var c struct {
		Attributes, SessionIssuer, WebIDFederationData json.RawMessage
		SourceIdentity, EC2RoleDelivery                text
	}
	if !object(raw, &c) {
		return nil
	}
	sc := &SessionContext{SourceIdentity: c.SourceIdentity.ptr(), EC2RoleDelivery: c.EC2RoleDelivery.ptr()}
	var a struct {
		CreationDate     text
		MFAAuthenticated flag
	}
	if object(c.Attributes, &a) {
		sc.Attributes = &SessionAttributes{MFAAuthenticated: a.MFAAuthenticated.ptr()}
		if t, err := time.Parse(time.RFC3339Nano, a.CreationDate.s); err == nil {
			t = t.UTC().Truncate(time.Millisecond)
			sc.Attributes.CreationDate = &t
		}
	}
	var i struct{ Type, PrincipalID, ARN, AccountID, UserName text }
	if object(c.SessionIssuer, &i) {
		sc.SessionIssuer = &SessionIssuer{Type: i.Type.ptr(), PrincipalID: i.PrincipalID.ptr(), ARN: i.ARN.ptr(),
			AccountID: i.AccountID.ptr(), UserName: i.UserName.ptr()}
	}
	var w struct {
		FederatedProvider text
		Attributes        json.RawMessage
	}
	if object(c.WebIDFederationData, &w) {
		sc.WebIDFederationData = &WebIDFederationData{FederatedProvider: w.FederatedProvider.ptr(), Attributes: jsonText(w.Attributes)}
	}
	return sc
}

func onBehalfOf(raw json.RawMessage) *OnBehalfOf {
	var o struct{ UserID, IdentityStoreArn text }
	if !object(raw, &o) {
		return nil
	}
	return &OnBehalfOf{UserID: o.UserID.ptr(), IdentityStoreARN: o.IdentityStoreArn.ptr()}
}

func resources(raw json.RawMessage) []Resource {
	list, ok := array(raw)
	if !ok {
		return nil
	}
	var out []Resource
	for _, item := range list {
		var r struct{ ARN, AccountID, Type text }
		if object(item, &r) {
			out = append(out, Resource{ARN: r.ARN.ptr(), AccountID: r.AccountID.ptr(), Type: r.Type.ptr()})
		}
	}
	return out
}

func tlsDetails(raw json.RawMessage) *TLSDetails {
	var t struct{ TLSVersion, CipherSuite, ClientProvidedHostHeader text }
	if !object(raw, &t) {
		return nil
	}
	return &TLSDetails{TLSVersion: t.TLSVersion.ptr(), CipherSuite: t.CipherSuite.ptr(), ClientProvidedHostHeader: t.ClientProvidedHostHeader.ptr()}
}

// lifted names the identifiers copied into their own columns, by payload key.
func liftedColumns(e *Event) []struct {
	key string
	dst **string
} {
	return []struct {
		key string
		dst **string
	}{
		{"productCode", &e.ProductCode},
		{"customerIdentifier", &e.CustomerIdentifier},
		{"customerAWSAccountId", &e.CustomerAWSAccountID},
		{"agreementId", &e.AgreementID},
		{"agreementRequestId", &e.AgreementRequestID},
		{"changeSetId", &e.ChangeSetID},
		{"entityId", &e.EntityID},
		{"catalog", &e.Catalog},
		{"listingId", &e.ListingID},
		{"productId", &e.ProductID},
	}
}

// lift sets the identifier columns from the top-level keys of the payloads, the response
// first, then the request, matching key names case-insensitively (when a payload holds two
// spellings of a key, the first in sorted order wins, so the answer is the same every time).
func lift(e *Event, payloads ...json.RawMessage) {
	cols := liftedColumns(e)
	for _, p := range payloads {
		var m map[string]json.RawMessage
		if !object(p, &m) {
			continue
		}
		keys := slices.Sorted(maps.Keys(m))
		for _, col := range cols {
			if *col.dst != nil {
				continue
			}
			for _, k := range keys {
				if !strings.EqualFold(k, col.key) {
					continue
				}
				v := bytes.TrimSpace(m[k])
				if len(v) == 0 || v[0] == '{' || v[0] == '[' {
					continue
				}
				var t text
				if json.Unmarshal(v, &t) == nil && t.ok {
					*col.dst = t.ptr()
					break
				}
			}
		}
	}
}

// changeSetEntity returns the entity of a StartChangeSet request's first change
// (requestParameters.changeSet[0].entity.identifier, key names matched case-insensitively),
// or nil: the entity a catalog change is about, which the call names nowhere else.
func changeSetEntity(req json.RawMessage) *string {
	if !containsFold(req, "changeset") {
		return nil // the common case, found without decoding anything
	}
	var changes []json.RawMessage
	if !arrayField(req, "changeSet", &changes) || len(changes) == 0 {
		return nil
	}
	var entity json.RawMessage
	if !objectField(changes[0], "entity", &entity) {
		return nil
	}
	var id json.RawMessage
	if !objectField(entity, "identifier", &id) {
		return nil
	}
	var t text
	if v := bytes.TrimSpace(id); len(v) == 0 || v[0] == '{' || v[0] == '[' || json.Unmarshal(v, &t) != nil {
		return nil
	}
	return t.ptr()
}

// objectField finds key (case-insensitively; the first in sorted key order when several
// spellings are present) in the JSON object raw and stores its raw value in dst.
func objectField(raw json.RawMessage, key string, dst *json.RawMessage) bool {
	var m map[string]json.RawMessage
	if !object(raw, &m) {
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.EqualFold(k, key) {
			*dst = m[k]
			return true
		}
	}
	return false
}

// arrayField is objectField for a value that must be a JSON array.
func arrayField(raw json.RawMessage, key string, dst *[]json.RawMessage) bool {
	var v json.RawMessage
	if !objectField(raw, key, &v) {
		return false
	}
	list, ok := array(v)
	*dst = list
	return ok
}

// containsFold reports whether b contains the ASCII lowercase word lower, in any case.
func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}
