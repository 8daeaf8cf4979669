// Code generated from the Unicode CLDR table windowsZones.xml (territory
// "001", the default zone of each Windows time zone); DO NOT EDIT.

package calendar

// windowsZone returns the IANA zone that CLDR names for a Windows time
// zone name, as Outlook and Exchange write it in TZID.
func windowsZone(name string) (string, bool) {
	switch name {
	case "AUS Central Standard Time":
		return "Australia/Darwin", true
	case "AUS Eastern Standard Time":
		return "Australia/Sydney", true
	case "Afghanistan Standard Time":
		return "Asia/Kabul", true
	case "Alaskan Standard Time":
		return "America/Anchorage", true
	case "Alberta Standard Time":
		return "America/Edmonton", true
	case "Aleutian Standard Time":
		return "America/Adak", true
	case "Altai Standard Time":
		return "Asia/Barnaul", true
	case "Arab Standard Time":
		return "Asia/Riyadh", true
	case "Arabian Standard Time":
		return "Asia/Dubai", true
	case "Arabic Standard Time":
		return "Asia/Baghdad", true
	case "Argentina Standard Time":
		return "America/Buenos_Aires", true
	case "Astrakhan Standard Time":
		return "Europe/Astrakhan", true
	case "Atlantic Standard Time":
		return "America/Halifax", true
	case "Aus Central W. Standard Time":
		return "Australia/Eucla", true
	case "Azerbaijan Standard Time":
		return "Asia/Baku", true
	case "Azores Standard Time":
		return "Atlantic/Azores", true
	case "Bahia Standard Time":
		return "America/Bahia", true
	case "Bangladesh Standard Time":
		return "Asia/Dhaka", true
	case "Belarus Standard Time":
		return "Europe/Minsk", true
	case "Bougainville Standard Time":
		return "Pacific/Bougainville", true
	case "British Columbia Standard Time":
		return "America/Vancouver", true
	case "Canada Central Standard Time":
		return "America/Regina", true
	case "Cape Verde Standard Time":
		return "Atlantic/Cape_Verde", true
	case "Caucasus Standard Time":
		return "Asia/Yerevan", true
	case "Cen. Australia Standard Time":
		return "Australia/Adelaide", true
	case "Central America Standard Time":
		return "America/Guatemala", true
	case "Central Asia Standard Time":
		return "Asia/Bishkek", true
	case "Central Brazilian Standard Time":
		return "America/Cuiaba", true
	case "Central Europe Standard Time":
		return "Europe/Budapest", true
	case "Central European Standard Time":
		return "Europe/Warsaw", true
	case "Central Pacific Standard Time":
		return "Pacific/Guadalcanal", true
	case "Central Standard Time":
		return "America/Chicago", true
	case "Central Standard Time (Mexico)":
		return "America/Mexico_City", true
	case "Chatham Islands Standard Time":
		return "Pacific/Chatham", true
	case "China Standard Time":
		return "Asia/Shanghai", true
	case "Cuba Standard Time":
		return "America/Havana", true
	case "Dateline Standard Time":
		return "Etc/GMT+12", true
	case "E. Africa Standard Time":
		return "Africa/Nairobi", true
	case "E. Australia Standard Time":
		return "Australia/Brisbane", true
	case "E. Europe Standard Time":
		return "Europe/Chisinau", true
	case "E. South America Standard Time":
		return "America/Sao_Paulo", true
	case "Easter Island Standard Time":
		return "Pacific/Easter", true
	case "Eastern Standard Time":
		return "America/New_York", true
	case "Eastern Standard Time (Mexico)":
		return "America/Cancun", true
	case "Egypt Standard Time":
		return "Africa/Cairo", true
	case "Ekaterinburg Standard Time":
		return "Asia/Yekaterinburg", true
	case "FLE Standard Time":
		return "Europe/Kiev", true
	case "Fiji Standard Time":
		return "Pacific/Fiji", true
	case "GMT Standard Time":
		return "Europe/London", true
	case "GTB Standard Time":
		return "Europe/Bucharest", true
	case "Georgian Standard Time":
		return "Asia/Tbilisi", true
	case "Greenland Standard Time":
		return "America/Godthab", true
	case "Greenwich Standard Time":
		return "Atlantic/Reykjavik", true
	case "Haiti Standard Time":
		return "America/Port-au-Prince", true
	case "Hawaiian Standard Time":
		return "Pacific/Honolulu", true
	case "India Standard Time":
		return "Asia/Calcutta", true
	case "Iran Standard Time":
		return "Asia/Tehran", true
	case "Israel Standard Time":
		return "Asia/Jerusalem", true
	case "Jordan Standard Time":
		return "Asia/Amman", true
	case "Kaliningrad Standard Time":
		return "Europe/Kaliningrad", true
	case "Korea Standard Time":
		return "Asia/Seoul", true
	case "Libya Standard Time":
		return "Africa/Tripoli", true
	case "Line Islands Standard Time":
		return "Pacific/Kiritimati", true
	case "Lord Howe Standard Time":
		return "Australia/Lord_Howe", true
	case "Magadan Standard Time":
		return "Asia/Magadan", true
	case "Magallanes Standard Time":
		return "America/Punta_Arenas", true
	case "Manitoba Standard Time":
		return "America/Winnipeg", true
	case "Marquesas Standard Time":
		return "Pacific/Marquesas", true
	case "Mauritius Standard Time":
		return "Indian/Mauritius", true
	case "Middle East Standard Time":
		return "Asia/Beirut", true
	case "Montevideo Standard Time":
		return "America/Montevideo", true
	case "Morocco Standard Time":
		return "Africa/Casablanca", true
	case "Mountain Standard Time":
		return "America/Denver", true
	case "Mountain Standard Time (Mexico)":
		return "America/Mazatlan", true
	case "Myanmar Standard Time":
		return "Asia/Rangoon", true
	case "N. Central Asia Standard Time":
		return "Asia/Novosibirsk", true
	case "Namibia Standard Time":
		return "Africa/Windhoek", true
	case "Nepal Standard Time":
		return "Asia/Katmandu", true
	case "New Zealand Standard Time":
		return "Pacific/Auckland", true
	case "Newfoundland Standard Time":
		return "America/St_Johns", true
	case "Norfolk Standard Time":
		return "Pacific/Norfolk", true
	case "North Asia East Standard Time":
		return "Asia/Irkutsk", true
	case "North Asia Standard Time":
		return "Asia/Krasnoyarsk", true
	case "North Korea Standard Time":
		return "Asia/Pyongyang", true
	case "Omsk Standard Time":
		return "Asia/Omsk", true
	case "Pacific SA Standard Time":
		return "America/Santiago", true
	case "Pacific Standard Time":
		return "America/Los_Angeles", true
	case "Pacific Standard Time (Mexico)":
		return "America/Tijuana", true
	case "Pakistan Standard Time":
		return "Asia/Karachi", true
	case "Paraguay Standard Time":
		return "America/Asuncion", true
	case "Qyzylorda Standard Time":
		return "Asia/Qyzylorda", true
	case "Romance Standard Time":
		return "Europe/Paris", true
	case "Russia Time Zone 10":
		return "Asia/Srednekolymsk", true
	case "Russia Time Zone 11":
		return "Asia/Kamchatka", true
	case "Russia Time Zone 3":
		return "Europe/Samara", true
	case "Russian Standard Time":
		return "Europe/Moscow", true
	case "SA Eastern Standard Time":
		return "America/Cayenne", true
	case "SA Pacific Standard Time":
		return "America/Bogota", true
	case "SA Western Standard Time":
		return "America/La_Paz", true
	case "SE Asia Standard Time":
		return "Asia/Bangkok", true
	case "Saint Pierre Standard Time":
		return "America/Miquelon", true
	case "Sakhalin Standard Time":
		return "Asia/Sakhalin", true
	case "Samoa Standard Time":
		return "Pacific/Apia", true
	case "Sao Tome Standard Time":
		return "Africa/Sao_Tome", true
	case "Saratov Standard Time":
		return "Europe/Saratov", true
	case "Singapore Standard Time":
		return "Asia/Singapore", true
	case "South Africa Standard Time":
		return "Africa/Johannesburg", true
	case "South Sudan Standard Time":
		return "Africa/Juba", true
	case "Sri Lanka Standard Time":
		return "Asia/Colombo", true
	case "Sudan Standard Time":
		return "Africa/Khartoum", true
	case "Syria Standard Time":
		return "Asia/Damascus", true
	case "Taipei Standard Time":
		return "Asia/Taipei", true
	case "Tasmania Standard Time":
		return "Australia/Hobart", true
	case "Tocantins Standard Time":
		return "America/Araguaina", true
	case "Tokyo Standard Time":
		return "Asia/Tokyo", true
	case "Tomsk Standard Time":
		return "Asia/Tomsk", true
	case "Tonga Standard Time":
		return "Pacific/Tongatapu", true
	case "Transbaikal Standard Time":
		return "Asia/Chita", true
	case "Turkey Standard Time":
		return "Europe/Istanbul", true
	case "Turks And Caicos Standard Time":
		return "America/Grand_Turk", true
	case "US Eastern Standard Time":
		return "America/Indianapolis", true
	case "US Mountain Standard Time":
		return "America/Phoenix", true
	case "UTC":
		return "Etc/UTC", true
	case "UTC+12":
		return "Etc/GMT-12", true
	case "UTC+13":
		return "Etc/GMT-13", true
	case "UTC-02":
		return "Etc/GMT+2", true
	case "UTC-08":
		return "Etc/GMT+8", true
	case "UTC-09":
		return "Etc/GMT+9", true
	case "UTC-11":
		return "Etc/GMT+11", true
	case "Ulaanbaatar Standard Time":
		return "Asia/Ulaanbaatar", true
	case "Venezuela Standard Time":
		return "America/Caracas", true
	case "Vladivostok Standard Time":
		return "Asia/Vladivostok", true
	case "Volgograd Standard Time":
		return "Europe/Volgograd", true
	case "W. Australia Standard Time":
		return "Australia/Perth", true
	case "W. Central Africa Standard Time":
		return "Africa/Lagos", true
	case "W. Europe Standard Time":
		return "Europe/Berlin", true
	case "W. Mongolia Standard Time":
		return "Asia/Hovd", true
	case "West Asia Standard Time":
		return "Asia/Tashkent", true
	case "West Bank Standard Time":
		return "Asia/Hebron", true
	case "West Pacific Standard Time":
		return "Pacific/Port_Moresby", true
	case "Yakutsk Standard Time":
		return "Asia/Yakutsk", true
	case "Yukon Standard Time":
		return "America/Whitehorse", true
	}
	return "", false
}
