package expr

import "time"

// Subscription is context.Subscription: the subscription whose key the
// request presented (null without one).
type Subscription struct {
	ID, Name, Key            string
	PrimaryKey, SecondaryKey string // the presented key in its slot; the other when known
	StartDate, EndDate       time.Time
	Product                  *Product // context.Product: the product it is scoped to
	User                     *User    // context.User: its owner
}

// Product is context.Product.
type Product struct{ ID, Name string }

// User is context.User.
type User struct{ ID, Email, FirstName, LastName string }

func subscriptionMembers() {
	sub := func(f *frame) *Subscription { return f.env.Subscription() }
	props[contextType]["Subscription"] = prop{typ: subscriptionType, get: func(f *frame, _ any) (any, error) {
		if s := sub(f); s != nil && s.ID != "" { // no ID: an open product's request, without a subscription
			return s, nil
		}
		return nil, nil
	}}
	props[contextType]["Product"] = prop{typ: productType, get: func(f *frame, _ any) (any, error) {
		if s := sub(f); s != nil && s.Product != nil {
			return s.Product, nil
		}
		return nil, nil
	}}
	props[contextType]["User"] = prop{typ: userType, get: func(f *frame, _ any) (any, error) {
		if s := sub(f); s != nil && s.User != nil {
			return s.User, nil
		}
		return nil, nil
	}}
	date := func(get func(*Subscription) time.Time) prop {
		return prop{typ: DateTimeType, get: func(_ *frame, r any) (any, error) {
			if t := get(r.(*Subscription)); !t.IsZero() {
				return t.UTC(), nil
			}
			return nil, nil
		}}
	}
	props[subscriptionType] = map[string]prop{
		"Id":           str(func(_ *frame, r any) string { return r.(*Subscription).ID }),
		"Name":         str(func(_ *frame, r any) string { return r.(*Subscription).Name }),
		"Key":          str(func(_ *frame, r any) string { return r.(*Subscription).Key }),
		"PrimaryKey":   str(func(_ *frame, r any) string { return r.(*Subscription).PrimaryKey }),
		"SecondaryKey": str(func(_ *frame, r any) string { return r.(*Subscription).SecondaryKey }),
		"StartDate":    date(func(s *Subscription) time.Time { return s.StartDate }),
		"EndDate":      date(func(s *Subscription) time.Time { return s.EndDate }),
	}
	props[productType] = map[string]prop{
		"Id":   str(func(_ *frame, r any) string { return r.(*Product).ID }),
		"Name": str(func(_ *frame, r any) string { return r.(*Product).Name }),
	}
	props[userType] = map[string]prop{
		"Id":        str(func(_ *frame, r any) string { return r.(*User).ID }),
		"Email":     str(func(_ *frame, r any) string { return r.(*User).Email }),
		"FirstName": str(func(_ *frame, r any) string { return r.(*User).FirstName }),
		"LastName":  str(func(_ *frame, r any) string { return r.(*User).LastName }),
	}
}
