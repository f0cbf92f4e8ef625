package marketplace

import "time"

// Nested elements are decoded leniently, each on its own: a value of the wrong JSON type
// (a string where an object belongs, an object where a string belongs) becomes null or
// text instead of failing the whole event, because real logs carry such surprises.

func userIdentity(raw []byte) *UserIdentity {
	var v [10][]byte
	if isObject, _ := fields(raw, userIdentityFields, v[:]); !isObject {
		return nil
	}
	return &UserIdentity{
		Type: textOf(v[0]).ptr(), PrincipalID: textOf(v[1]).ptr(), ARN: textOf(v[2]).ptr(), AccountID: textOf(v[3]).ptr(),
		AccessKeyID: textOf(v[4]).ptr(), UserName: textOf(v[5]).ptr(), InvokedBy: textOf(v[6]).ptr(),
		IdentityProvider: textOf(v[7]).ptr(),
		SessionContext:   sessionContext(v[8]),
		OnBehalfOf:       onBehalfOf(v[9]),
	}
}

// The members each nested object is read for, by the names of their Event fields (matched
// case-insensitively, as encoding/json matched them).
var (
	userIdentityFields = []field{{name: "Type"}, {name: "PrincipalID"}, {name: "ARN"}, {name: "AccountID"},
		{name: "AccessKeyID"}, {name: "UserName"}, {name: "InvokedBy"}, {name: "IdentityProvider"},
		{name: "SessionContext"}, {name: "OnBehalfOf"}}
	sessionContextFields = []field{{name: "Attributes"}, {name: "SessionIssuer"}, {name: "WebIDFederationData"},
		{name: "SourceIdentity"}, {name: "EC2RoleDelivery"}}
	sessionAttributesFields = []field{{name: "CreationDate"}, {name: "MFAAuthenticated"}}
	sessionIssuerFields     = []field{{name: "Type"}, {name: "PrincipalID"}, {name: "ARN"}, {name: "AccountID"}, {name: "UserName"}}
	webIDFields             = []field{{name: "FederatedProvider"}, {name: "Attributes"}}
	onBehalfOfFields        = []field{{name: "UserID"}, {name: "IdentityStoreArn"}}
	resourceFields          = []field{{name: "ARN"}, {name: "AccountID"}, {name: "Type"}}
	tlsDetailsFields        = []field{{name: "TLSVersion"}, {name: "CipherSuite"}, {name: "ClientProvidedHostHeader"}}
)

func sessionContext(raw []byte) *SessionContext {
	var c [5][]byte
	if isObject, _ := fields(raw, sessionContextFields, c[:]); !isObject {
		return nil
	}
	sc := &SessionContext{SourceIdentity: textOf(c[3]).ptr(), EC2RoleDelivery: textOf(c[4]).ptr()}
	var a [2][]byte
	if _, ok := fields(c[0], sessionAttributesFields, a[:]); ok {
		sc.Attributes = &SessionAttributes{MFAAuthenticated: flagOf(a[1]).ptr()}
		if t, err := time.Parse(time.RFC3339Nano, textOf(a[0]).s); err == nil {
			t = t.UTC().Truncate(time.Millisecond)
			sc.Attributes.CreationDate = &t
		}
	}
	var i [5][]byte
	if _, ok := fields(c[1], sessionIssuerFields, i[:]); ok {
		sc.SessionIssuer = &SessionIssuer{Type: textOf(i[0]).ptr(), PrincipalID: textOf(i[1]).ptr(), ARN: textOf(i[2]).ptr(),
			AccountID: textOf(i[3]).ptr(), UserName: textOf(i[4]).ptr()}
	}
	var w [2][]byte
	if _, ok := fields(c[2], webIDFields, w[:]); ok {
		sc.WebIDFederationData = &WebIDFederationData{FederatedProvider: textOf(w[0]).ptr(), Attributes: jsonText(w[1])}
	}
	return sc
}

func onBehalfOf(raw []byte) *OnBehalfOf {
	var o [2][]byte
	if isObject, _ := fields(raw, onBehalfOfFields, o[:]); !isObject {
		return nil
	}
	return &OnBehalfOf{UserID: textOf(o[0]).ptr(), IdentityStoreARN: textOf(o[1]).ptr()}
}

// resources decodes the resources array: its elements that are objects, in order. Any
// array, even [] or one of no objects, is a non-nil slice, so the column holds an empty
// list; absent, null or a value that is not an array is nil, written as NULL. The two mean
// different things to a reader ("the call named no resources" against "nothing logged").
func resources(raw []byte) []Resource {
	list, ok := elements(raw)
	if !ok {
		return nil
	}
	out := make([]Resource, 0, len(list))
	for _, item := range list {
		var r [3][]byte
		if isObject, _ := fields(item, resourceFields, r[:]); isObject {
			out = append(out, Resource{ARN: textOf(r[0]).ptr(), AccountID: textOf(r[1]).ptr(), Type: textOf(r[2]).ptr()})
		}
	}
	return out
}

func tlsDetails(raw []byte) *TLSDetails {
	var t [3][]byte
	if isObject, _ := fields(raw, tlsDetailsFields, t[:]); !isObject {
		return nil
	}
	return &TLSDetails{TLSVersion: textOf(t[0]).ptr(), CipherSuite: textOf(t[1]).ptr(), ClientProvidedHostHeader: textOf(t[2]).ptr()}
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
		{"licenseArn", &e.LicenseARN},
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
// A spelling whose value is an object, an array or null is passed over for the next one.
func lift(e *Event, payloads ...[]byte) {
	cols := liftedColumns(e)
	keys := make([]string, len(cols))
	for i, col := range cols {
		keys[i] = col.key
	}
	for _, p := range payloads {
		found, _ := foldMembers(p, keys...)
		for i, col := range cols {
			if *col.dst != nil {
				continue
			}
			if v, ok := pick(found, i, scalar); ok {
				*col.dst = textOf(v).ptr()
			}
		}
	}
}

// scalar reports whether the JSON value v is a string, number or boolean.
func scalar(v []byte) bool { return v[0] != '{' && v[0] != '[' && !isNull(v) }

// changeSetEntity returns the entity of a StartChangeSet request's first change
// (requestParameters.changeSet[0].entity.identifier, key names matched case-insensitively),
// or nil: the entity a catalog change is about, which the call names nowhere else.
func changeSetEntity(req []byte) *string {
	if !containsFold(req, "changeset") {
		return nil // the common case, found without decoding anything
	}
	v, ok := foldLookup(req, "changeSet")
	if !ok {
		return nil
	}
	changes, ok := elements(v)
	if !ok || len(changes) == 0 {
		return nil
	}
	entity, ok := foldLookup(changes[0], "entity")
	if !ok {
		return nil
	}
	id, ok := foldLookup(entity, "identifier")
	if !ok || id[0] == '{' || id[0] == '[' {
		return nil
	}
	return textOf(id).ptr()
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
