from uscpis.registry import NavItem

NAV = [
    NavItem("Book an appointment", "appointments:book", "appointments.book_self"),
    NavItem("My appointments", "appointments:my_list", "appointments.book_self"),
    NavItem("Calendar", "appointments:calendar", "appointments.view_schedule"),
    NavItem("Today's queue", "appointments:queue", "appointments.view_schedule"),
    NavItem("Book for a patient", "appointments:staff_book", "appointments.book_for_patient"),
    NavItem("Appointment history", "appointments:history", "appointments.view_schedule"),
    NavItem("Appointment reports", "appointments:report", "appointments.view_reports"),
    NavItem("Schedules", "appointments:schedules", "appointments.manage_schedules"),
]
